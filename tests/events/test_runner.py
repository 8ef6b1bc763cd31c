"""The runner's one apply path, record by record: a batch of one or many is decoded, deduped,
prepared and applied in one transaction; a batch that fails is applied one event at a time by
the same path, so a poison event is dead-lettered alone. Records are built here and handed to
`ConsumerRunner.settle` (what `poll_once` does with a poll), so each batch is exactly the one
a test means; the broker is there for the dead-letter topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from consumers.models import DeadLetter, ProcessedEvent
from consumers.registry import Context, Handlers
from consumers.runner import MAX_HANDLER_ATTEMPTS, ConsumerRunner, Outcome
from coordinator.accounts.models import AuditLog
from coordinator.accounts.service import record_audit
from events.envelope import Envelope, encode
from events.metrics import EVENTS_CONSUMED
from events.payloads.incidents import IncidentClosed, IncidentOpened
from events.topics import topic_name

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Record:
    """What the runner reads of a kafka-python ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class Records:
    """Records of IncidentClosed events on the test's incidents topic, at rising offsets."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self.topic = topic_name(IncidentClosed.TOPIC, runner.config.prefix)
        self.offset = 0

    def closed(
        self, incident_id: int, reason: str = "test", *, like: Record | None = None
    ) -> Record:
        """A new event, or (`like`) another delivery of the same one."""
        if like is not None:
            return self._at(like.key, like.value, like.headers)
        key, value, headers = encode(
            Envelope.wrap(IncidentClosed(incident_id=incident_id, reason=reason))
        )
        return self._at(key, value, headers)

    def retyped(self, record: Record, type_: str) -> Record:
        headers = [(k, type_.encode() if k == "ce_type" else v) for k, v in record.headers]
        return self._at(record.key, record.value, headers)

    def garbage(self) -> Record:
        return self._at(None, b"\xff\xfe not an event", [])

    def _at(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Record:
        self.offset += 1
        return Record(self.topic, 0, self.offset, key, value, headers)


def event_id(record: Record) -> str:
    return dict(record.headers)["ce_id"].decode()


@dataclass
class Recorder:
    """A consumer whose handler audits each incident it applies and, after its commit, notes
    the event id; `poison` incidents raise (having asked for an after-commit action)."""

    handlers: Handlers
    calls: dict[int, int]
    after_commit: list[str]
    prepared: list[list[int]]


def recorder(name: str, *, poison: tuple[int, ...] = (), **table: Any) -> Recorder:
    rec = Recorder(Handlers(name, **table), {}, [], [])

    @rec.handlers.prepare(IncidentClosed)
    def prepare(session: Session, events: list[IncidentClosed]) -> list[int]:
        rec.prepared.append([e.incident_id for e in events])
        return [e.incident_id for e in events]

    @rec.handlers.on(IncidentClosed, when=lambda e: e.reason != "not for us")
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        rec.calls[event.incident_id] = rec.calls.get(event.incident_id, 0) + 1
        record_audit(
            session=ctx.session,
            actor="test",
            action="runner.applied",
            subject=str(event.incident_id),
        )
        ctx.after_commit(lambda: rec.after_commit.append(ctx.envelope.id))
        if event.incident_id in poison:
            raise ValueError(f"incident {event.incident_id} is poison")

    return rec


def _runner(make_runtime: Any, engine: Any, handlers: Handlers) -> ConsumerRunner:
    rt = make_runtime(relay=False)  # the topics, the dead-letter one among them
    return ConsumerRunner(handlers, engine, rt.runner_config(), services=rt.services)


def _effects(engine: Any) -> dict[int, int]:
    with Session(engine) as s:
        rows = s.exec(select(AuditLog.subject).where(AuditLog.action == "runner.applied")).all()
    out: dict[int, int] = {}
    for subject in rows:
        out[int(subject)] = out.get(int(subject), 0) + 1
    return out


def _processed(engine: Any, consumer: str) -> set[str]:
    with Session(engine) as s:
        rows = s.exec(select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == consumer))
        return set(rows.all())


def _counted(consumer: str) -> dict[str, float]:
    labels = ("applied", "duplicate", "skipped", "dead_lettered")
    return {label: EVENTS_CONSUMED.labels(consumer, label)._value.get() for label in labels}


def test_a_poison_event_is_dead_lettered_alone_and_the_rest_of_its_batch_applies(
    engine, make_runtime
):
    rec = recorder("poison", poison=(2,))
    runner = _runner(make_runtime, engine, rec.handlers)
    records = Records(runner)
    batch = [records.closed(1), records.closed(2), records.closed(3)]

    outcomes = runner.settle(batch)

    assert outcomes == [Outcome.APPLIED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    assert _effects(engine) == {1: 1, 3: 1}
    assert _processed(engine, "poison") == {event_id(batch[0]), event_id(batch[2])}
    with Session(engine) as s:
        dead = s.exec(select(DeadLetter)).all()
    assert [(d.consumer, d.event_id, d.offset) for d in dead] == [
        ("poison", event_id(batch[1]), batch[1].offset)
    ]
    assert dead[0].reason == "handler failed: ValueError: incident 2 is poison"
    # the batch up to the poison, then each alone: the poison until it was given up on
    assert rec.calls == {1: 2, 2: 1 + MAX_HANDLER_ATTEMPTS, 3: 1}
    # only committed transactions ran their after-commit actions: the failed batch's never did
    assert sorted(rec.after_commit) == sorted([event_id(batch[0]), event_id(batch[2])])
    assert runner.applied == 2
    runner.close()


def test_a_duplicate_inside_a_batch_and_across_batches_is_applied_once(engine, make_runtime):
    rec = recorder("dup")
    runner = _runner(make_runtime, engine, rec.handlers)
    records = Records(runner)
    first = records.closed(1)
    before = _counted("dup")

    assert runner.settle([first, records.closed(2), records.closed(1, like=first)]) == [
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    assert runner.settle([records.closed(1, like=first), records.closed(3)]) == [
        Outcome.DUPLICATE,
        Outcome.APPLIED,
    ]

    assert _effects(engine) == {1: 1, 2: 1, 3: 1}
    assert rec.calls == {1: 1, 2: 1, 3: 1}
    assert len(rec.after_commit) == 3 == len(set(rec.after_commit))
    # prepared once per batch, for the events it applies and nothing else
    assert rec.prepared == [[1, 2], [3]]
    after = _counted("dup")
    assert after["applied"] - before["applied"] == 3
    assert after["duplicate"] - before["duplicate"] == 2
    runner.close()


def test_a_consumer_without_bookkeeping_applies_a_duplicate_in_one_batch_once(engine, make_runtime):
    rec = recorder("feed", exactly_once=False)
    runner = _runner(make_runtime, engine, rec.handlers)
    records = Records(runner)
    first = records.closed(1)
    assert runner.settle([first, records.closed(1, like=first)]) == [
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    assert _effects(engine) == {1: 1} and _processed(engine, "feed") == set()
    runner.close()


def test_after_commit_actions_run_once_the_transaction_has_committed_and_never_without(
    engine, make_runtime
):
    handlers = Handlers("after")
    seen_committed: list[int] = []

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        record_audit(
            session=ctx.session,
            actor="test",
            action="runner.applied",
            subject=str(event.incident_id),
        )
        # what the action sees from outside the transaction: committed effects, or nothing
        ctx.after_commit(lambda: seen_committed.append(_effects(engine).get(event.incident_id, 0)))
        if event.reason == "crash":
            raise KeyboardInterrupt("a crash inside the transaction")

    runner = _runner(make_runtime, engine, handlers)
    records = Records(runner)
    with pytest.raises(KeyboardInterrupt):
        runner.settle([records.closed(1), records.closed(2, "crash")])
    assert seen_committed == [] and _effects(engine) == {}  # rolled back, nothing ran

    assert runner.settle([records.closed(3), records.closed(4)]) == [Outcome.APPLIED] * 2
    assert seen_committed == [1, 1]
    runner.close()


def test_every_outcome_is_reachable_and_counted_under_the_dashboards_labels(engine, make_runtime):
    rec = recorder("outcomes")
    runner = _runner(make_runtime, engine, rec.handlers)
    records = Records(runner)
    applied = records.closed(1)
    before = _counted("outcomes")

    outcomes = runner.settle(
        [
            applied,
            records.closed(1, like=applied),
            records.retyped(records.closed(2), IncidentOpened.TYPE),  # a type it does not handle
            records.closed(3, "not for us"),  # its `when` says no
            records.garbage(),
        ]
    )

    assert outcomes == [
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.NOT_OURS,
        Outcome.SKIPPED_BY_WHEN,
        Outcome.DEAD_LETTERED,
    ]
    assert set(outcomes) == set(Outcome), "an outcome no test reaches"
    after = _counted("outcomes")
    assert {label: after[label] - before[label] for label in after} == {
        "applied": 1,
        "duplicate": 1,
        "skipped": 2,
        "dead_lettered": 1,
    }
    assert {o: o.label for o in Outcome} == {
        Outcome.APPLIED: "applied",
        Outcome.DUPLICATE: "duplicate",
        Outcome.NOT_OURS: "skipped",
        Outcome.SKIPPED_BY_WHEN: "skipped",
        Outcome.DEAD_LETTERED: "dead_lettered",
    }
    # passed over without bookkeeping: only the applied event has its row
    assert _processed(engine, "outcomes") == {event_id(applied)}
    runner.close()


def test_a_transient_error_is_retried_past_the_attempt_limit_and_then_applies(engine, make_runtime):
    handlers = Handlers("flaky")
    failures = {"left": 1 + MAX_HANDLER_ATTEMPTS}  # the batch, then each attempt alone

    @handlers.on(IncidentClosed)
    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        if event.incident_id == 2 and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("database is locked"))
        record_audit(
            session=ctx.session,
            actor="test",
            action="runner.applied",
            subject=str(event.incident_id),
        )

    runner = _runner(make_runtime, engine, handlers)
    records = Records(runner)
    assert runner.settle([records.closed(1), records.closed(2)]) == [Outcome.APPLIED] * 2
    assert _effects(engine) == {1: 1, 2: 1} and failures["left"] == 0
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(DeadLetter)).one() == 0
    runner.close()


def test_a_copy_another_member_applied_meanwhile_is_a_duplicate(on_postgres, engine, make_runtime):
    """Two members hold the same event across a rebalance: the one that commits second finds
    the other's `(consumer, event id)` row, rolls back and counts a duplicate."""
    rec = recorder("rival")
    original = rec.handlers.by_type[IncidentClosed.TYPE]

    def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
        original(ctx, event)
        with Session(engine) as other:  # the other member commits first
            other.add(
                ProcessedEvent(consumer="rival", event_id=ctx.envelope.id, event_type=event.TYPE)
            )
            other.commit()

    rec.handlers.by_type[IncidentClosed.TYPE] = on_incident_closed
    runner = _runner(make_runtime, engine, rec.handlers)
    records = Records(runner)
    assert runner.settle([records.closed(1)]) == [Outcome.DUPLICATE]
    assert _effects(engine) == {} and rec.after_commit == []
    assert rec.calls == {1: 1}  # applied again, it is found before its handler runs
    runner.close()
