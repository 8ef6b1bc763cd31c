"""Every Kafka topic Nuanliu uses, declared once. Names on the wire carry a prefix
(`NUANLIU_TOPIC_PREFIX`), so several instances or test runs can share one broker."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    ALERTS = "alerts"
    INCIDENTS = "incidents"
    TASKS = "tasks"
    ASSIGNMENTS = "assignments"
    SMS = "sms"
    SHIPMENTS = "shipments"
    STOCK = "stock"
    PLANS = "plans"
    DLQ = "dlq"


#: Partitions per topic when Nuanliu creates them. Keys (incident, station, phone) keep order
#: inside a partition; more partitions let more copies of a worker share the load.
DEFAULT_PARTITIONS = 4


def topic_name(topic: Topic | str, prefix: str) -> str:
    """The wire name of `topic` under `prefix` (e.g. ``nuanliu.alerts``)."""
    return f"{prefix}{Topic(topic).value}"


def all_topic_names(prefix: str) -> list[str]:
    return [topic_name(t, prefix) for t in Topic]
