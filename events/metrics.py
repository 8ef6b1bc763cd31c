"""Prometheus instruments shared by the relay, the consumers and the API."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "nuanliu_events_published_total", "Events the relay published to the broker", ["topic"]
)
EVENTS_CONSUMED = Counter(
    "nuanliu_events_consumed_total",
    "Events a consumer settled, by outcome (applied, duplicate, skipped, dead_lettered)",
    ["consumer", "outcome"],
)
EVENTS_DEAD_LETTERED = Counter(
    "nuanliu_events_dead_lettered_total", "Records sent to the dead-letter topic", ["consumer"]
)
HANDLER_SECONDS = Histogram(
    "nuanliu_handler_seconds", "Time to apply one event, transaction included", ["consumer"]
)
BROKER_RSS = Gauge(
    "nuanliu_embedded_broker_rss_bytes", "Resident memory of the embedded broker process"
)
BROKER_RESTARTS = Counter(
    "nuanliu_embedded_broker_restarts_total",
    "Times the embedded broker was restarted empty to give its memory back",
)
EVENTS_REDRIVEN = Counter(
    "nuanliu_events_redriven_total",
    "Published events published again because a consumer never applied them",
)
OUTBOX_DEPTH = Gauge("nuanliu_outbox_depth", "Events written but not yet published")
CONSUMER_LAG = Gauge(
    "nuanliu_consumer_lag",
    "Events published to a consumer's topics that it has not yet applied",
    ["consumer"],
)
