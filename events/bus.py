"""kafka-python plumbing: producers, consumers, topic creation and the broker check.

One code path for every broker: the embedded `tansu` on a laptop and in tests, Apache Kafka in
production. Settings that matter are here so every part uses the same ones.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from events.topics import DEFAULT_PARTITIONS

log = logging.getLogger(__name__)


class BrokerUnreachable(RuntimeError):
    """The broker did not answer in time; the message is one line for a person."""


def make_producer(bootstrap: str, **overrides: object) -> KafkaProducer:
    """An idempotent producer that waits for all replicas: no duplicates on retry, and order
    per partition is kept (max 5 in flight is the idempotence limit)."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_in_flight_requests_per_connection": 5,
        "request_timeout_ms": 10_000,
        "max_block_ms": 10_000,
        "retries": 5,
        "client_id": "nuanliu",
    }
    options.update(overrides)
    return KafkaProducer(**options)


def make_consumer(
    bootstrap: str,
    group_id: str,
    topics: Iterable[str],
    *,
    session_timeout_ms: int,
    heartbeat_interval_ms: int,
    **overrides: object,
) -> KafkaConsumer:
    """A group member that commits only when told to (after the database transaction)."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": session_timeout_ms,
        "heartbeat_interval_ms": heartbeat_interval_ms,
        "max_poll_records": 500,
        "client_id": f"nuanliu-{group_id}",
    }
    options.update(overrides)
    consumer = KafkaConsumer(**options)
    consumer.subscribe(list(topics))
    return consumer


def close_consumer(consumer: KafkaConsumer, *, join_timeout_s: float) -> None:
    """Leave the group and close, first letting a join in flight finish (up to
    `join_timeout_s`). Offsets are not committed here: the caller commits what it applied.

    kafka-python's `close()` sends LeaveGroup while a JoinGroup it sent is still pending and
    then completes that join anyway; the embedded broker (tansu) completes the round with the
    departed member as the group's leader, and every member that joins after it waits for an
    assignment that leader never sends (seen: a board's feed stopped after a restart, a new
    member still unassigned after 60 s). A member that leaves after its join has finished
    leaves cleanly. The join state is kafka-python's own (`_join_task`): there is no public way
    to ask whether a join is in flight, so a client without it is closed at once."""
    coordinator = getattr(consumer, "_coordinator", None)
    deadline = time.monotonic() + join_timeout_s
    while time.monotonic() < deadline:
        join = getattr(coordinator, "_join_task", None)
        if join is None or getattr(join, "is_done", True):
            break
        time.sleep(0.02)
    consumer.close(autocommit=False)


def _tcp_open(bootstrap: str) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return True
        except (OSError, ValueError):
            continue
    return False


def wait_for_broker(bootstrap: str, timeout_s: float, *, stalled_s: float = 0.0) -> None:
    """Return once the broker answers a metadata request; raise BrokerUnreachable otherwise.

    `timeout_s` bounds the wait when nothing listens at `bootstrap` (a wrong address should
    fail fast, with one line). A broker that accepts connections but does not answer (paused,
    starting, overloaded) is there and will come back: it is waited for up to `stalled_s`
    in all, with a warning every few seconds, so a worker started during a pause waits for the
    broker instead of exiting."""
    started = time.monotonic()
    last: Exception | None = None
    warned = -math.inf  # the first failure is said at once, then every 5 s
    while True:
        elapsed = time.monotonic() - started
        listening = _tcp_open(bootstrap)
        if elapsed >= (max(timeout_s, stalled_s) if listening else timeout_s):
            break
        if not listening:
            # kafka-python's own bootstrap retries far longer than we want to wait
            last = ConnectionRefusedError(f"nothing listens at {bootstrap}")
            time.sleep(0.2)
            continue
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                request_timeout_ms=2000,
                bootstrap_timeout_ms=2000,  # kafka-python's own default waits 30 s
                client_id="nuanliu-check",
            )
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
            if time.monotonic() - warned >= 5.0 and stalled_s > timeout_s:
                warned = time.monotonic()
                log.warning(
                    "the broker at %s listens but does not answer (%s); waiting",
                    bootstrap,
                    type(exc).__name__,
                )
            time.sleep(0.2)
    waited = time.monotonic() - started
    reason = type(last).__name__ if last else "timeout"
    raise BrokerUnreachable(
        f"cannot reach the Kafka broker at {bootstrap} within {waited:.0f}s ({reason})"
    )


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    *,
    timeout_s: float = 60.0,
) -> None:
    """Create the topics that do not exist yet (idempotent). A broker that does not answer
    (paused, restarting) is asked again until `timeout_s`; then BrokerUnreachable."""
    wanted = list(names)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _create_missing(bootstrap, wanted, partitions)
            return
        except KafkaError as exc:  # NoBrokersAvailable, RequestTimedOutError, NodeNotReady…
            if time.monotonic() >= deadline:
                raise BrokerUnreachable(
                    f"the Kafka broker at {bootstrap} did not create the topics within "
                    f"{timeout_s:g}s ({type(exc).__name__})"
                ) from None
            log.warning("creating topics failed (%s); trying again", type(exc).__name__)
            time.sleep(1.0)


def _create_missing(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        bootstrap_timeout_ms=5000,
        client_id="nuanliu-admin",
    )
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        # another process may create them between our list and create
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(
                [NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in missing]
            )
    finally:
        admin.close()


def broker_ok(bootstrap: str) -> bool:
    """A cheap liveness probe for /healthz."""
    try:
        wait_for_broker(bootstrap, timeout_s=2.0)
        return True
    except BrokerUnreachable:
        return False
