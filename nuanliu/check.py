"""`nuanliu check`: read the database and report every breach of the promises the design makes.

The rules of one domain live beside it (`dispatch/invariants.py`, `logistics/invariants.py`)
and are listed here; the rules here are the ones that join several domains or the event spine
(an offer and its text, an event and the consumers that owe it, a text and its reply).

Each rule is a small function that returns the breaches it found, with a message a dispatcher
can act on. The rules only read; they never repair. The unique constraints and row locks should
make most of these impossible; the checker is the proof that they did, after a crash test, a
broker outage or a bad night in production.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from consumers import consumer_tables
from consumers.models import DeadLetter, ProcessedEvent
from consumers.redrive import scan
from coordinator.config import Settings
from coordinator.dispatch import invariants as dispatch
from coordinator.dispatch.models import Assignment
from coordinator.invariants import Breach, Rule
from coordinator.logistics import invariants as logistics
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from events.outbox import OutboxEvent
from events.payloads.sms import SmsReceived

#: how long an outbox row may wait before "never published" is a breach, and how long the
#: notify consumer may take to text an offer before "no SMS" is one
DEFAULT_GRACE = timedelta(minutes=5)
#: the hours ledger's tolerance when the caller has no settings: the setting's own default
DEFAULT_HOURS_TOLERANCE: timedelta = Settings.model_fields["hours_tolerance"].default


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# -- dispatch ---------------------------------------------------------------------------------


def offers_without_one_sms(session: Session, *, now: datetime, grace: timedelta) -> list[Breach]:
    """Every offer is texted exactly once. Owed an offer SMS: an offer the volunteer answered
    (accepted, declined, completed; dispatcher assignments are never offers) and an offer still
    open after `grace` to a volunteer who has not opted out."""
    out: list[Breach] = []
    counts: dict[int, int] = {
        aid: n
        for aid, n in session.exec(
            select(SmsMessage.assignment_id, func.count(col(SmsMessage.id)))
            .where(
                SmsMessage.direction == "outbound",
                SmsMessage.kind == "offer",
                col(SmsMessage.assignment_id).is_not(None),
            )
            .group_by(col(SmsMessage.assignment_id))
        ).all()
        if aid is not None
    }
    for sms_for, n in sorted(counts.items()):
        if n > 1:
            out.append(
                Breach("offer_sms_twice", f"assignment {sms_for}", f"{n} offer SMS were sent")
            )
    rows = session.exec(
        select(Assignment.id, Assignment.status, Assignment.offered_at, Volunteer.opted_out)
        .join(Volunteer, col(Volunteer.id) == Assignment.volunteer_id)
        .where(
            col(Assignment.source) != "dispatcher",
            col(Assignment.status).in_(("offered", "accepted", "declined", "completed")),
        )
    ).all()
    for aid, status, offered_at, opted_out in rows:
        if aid in counts:
            continue
        if status == "offered":
            at = _aware(offered_at)
            if opted_out or at is None or now - at < grace:
                continue
            why = f"offered at {at.isoformat()} and still no offer SMS"
        else:
            why = f"{status} by the volunteer, but no offer SMS was ever sent"
        out.append(Breach("offer_without_sms", f"assignment {aid}", why))
    return out


# -- the event spine --------------------------------------------------------------------------
def outbox_unpublished(session: Session, *, now: datetime, grace: timedelta) -> list[Breach]:
    """An outbox row older than `grace` that the relay never published."""
    rows = session.exec(
        select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.created_at, OutboxEvent.attempts)
        .where(col(OutboxEvent.published_at).is_(None), col(OutboxEvent.created_at) < now - grace)
        .order_by(col(OutboxEvent.id))
    ).all()
    return [
        Breach(
            "outbox_unpublished",
            f"outbox {oid}",
            f"{etype} staged at {(_aware(created) or now).isoformat()} was never published "
            f"({attempts} attempt(s))",
        )
        for oid, etype, created, attempts in rows
    ]


def events_never_applied(session: Session, *, now: datetime, grace: timedelta) -> list[Breach]:
    """A published event that a consumer subscribed to it should have applied (its handler's
    `when` accepts it) and neither applied nor dead-lettered, `grace` after publication: the
    broker lost it. `nuanliu redrive` (and every start on the embedded broker) sends it
    again."""
    owed = scan(session, consumer_tables(), published_before=now - grace).owed
    return [
        Breach(
            "event_never_applied",
            f"outbox {row.outbox_id}",
            f"{row.type} ({row.event_id}) published but never applied by "
            f"{', '.join(row.consumers)}",
        )
        for row in owed
        # a text's event is reported by replies_never_applied, which names the text
        if row.type != SmsReceived.TYPE
    ]


def events_applied_twice(session: Session) -> list[Breach]:
    """One consumer recorded one event twice (the unique constraint should forbid it)."""
    rows = session.exec(
        select(ProcessedEvent.consumer, ProcessedEvent.event_id, func.count())
        .group_by(col(ProcessedEvent.consumer), col(ProcessedEvent.event_id))
        .having(func.count() > 1)
    ).all()
    return [
        Breach("event_applied_twice", f"{consumer} {eid}", f"applied {n} times")
        for consumer, eid, n in rows
    ]


def _text_consumers() -> dict[str, Callable[[Any], bool] | None]:
    """The consumers with exactly-once bookkeeping that handle SmsReceived, with their `when`
    (dispatch takes every text but receipts, inventory the receipts). Read from the handler
    tables, so a new consumer of texts is counted without touching this module."""
    return {
        name: table.conditions.get(SmsReceived.TYPE)
        for name, table in consumer_tables().items()
        if table.exactly_once and SmsReceived.TYPE in table.by_type
    }


@dataclass(frozen=True)
class UnappliedReply:
    """An inbound text whose `nuanliu.sms.received` a consumer that owes it never applied."""

    outbox_id: int
    message_id: int
    #: the consumers that owe it and have not applied it
    consumers: tuple[str, ...]
    published_at: datetime | None


def find_unapplied_replies(session: Session, *, older_than: datetime) -> list[UnappliedReply]:
    """Inbound texts stored before `older_than` whose event a consumer that owes it has not
    applied (nor dead-lettered: that failure is on record for a person, and publishing it
    again would only dead-letter it again), published or not, in outbox order."""
    owers = _text_consumers()
    # Only texts no consumer of texts applied are decoded (normally none; a scan of every
    # text's JSON would grow with the season). Today each text is owed by exactly one
    # consumer, so one applied row means done; were two to owe the same text, one applying
    # it and the other not would go unseen here.
    applied = (
        sa_select(col(ProcessedEvent.id))
        .where(
            col(ProcessedEvent.event_id) == OutboxEvent.event_id,
            col(ProcessedEvent.consumer).in_(sorted(owers)),
        )
        .exists()
    )
    rows = session.exec(
        select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.data, OutboxEvent.published_at)
        .where(
            OutboxEvent.type == SmsReceived.TYPE,
            col(OutboxEvent.created_at) < older_than,
            ~applied,
        )
        .order_by(col(OutboxEvent.id))
    ).all()
    if not rows:
        return []
    dead = set(
        session.exec(
            select(DeadLetter.consumer, DeadLetter.event_id).where(
                col(DeadLetter.event_id).in_([eid for _, eid, _, _ in rows])
            )
        ).all()
    )
    decoded: list[tuple[int, str, SmsReceived, datetime | None]] = []
    for oid, eid, data, published_at in rows:
        try:
            payload = SmsReceived.model_validate(json.loads(data))
        except ValueError:
            continue  # undecodable: every consumer dead-letters it; nothing could apply it
        if oid is not None:
            decoded.append((oid, eid, payload, _aware(published_at)))
    inbound = set(
        session.exec(
            select(SmsMessage.id).where(
                col(SmsMessage.id).in_(sorted({p.message_id for _, _, p, _ in decoded})),
                SmsMessage.direction == "inbound",
                col(SmsMessage.created_at) < older_than,
            )
        ).all()
    )
    out = []
    for oid, eid, payload, published_at in decoded:
        if payload.message_id not in inbound:
            continue
        missing = tuple(
            name
            for name, when in owers.items()
            if (when is None or when(payload)) and (name, eid) not in dead
        )
        if missing:
            out.append(UnappliedReply(oid, payload.message_id, missing, published_at))
    return out


def unapplied_replies(session: Session, *, older_than: datetime) -> list[int]:
    """The outbox ids of the `nuanliu.sms.received` events of inbound texts stored before
    `older_than` that a consumer owing them never applied (see
    :func:`find_unapplied_replies`). Publishing them again is safe: consumers dedupe on
    `processed_events`. Rows still unpublished are included; the relay has them already."""
    return [r.outbox_id for r in find_unapplied_replies(session, older_than=older_than)]


def replies_never_applied(session: Session, *, now: datetime, grace: timedelta) -> list[Breach]:
    """An inbound text stored more than `grace` ago that the consumer owing it never applied:
    a volunteer's "yes" or a manager's receipt lost (the process died with it in flight)."""
    return [
        Breach(
            "reply_never_applied",
            f"sms {r.message_id}",
            f"was never applied by {', '.join(r.consumers)} (outbox {r.outbox_id}, "
            + ("published" if r.published_at is not None else "never published")
            + ")",
        )
        for r in find_unapplied_replies(session, older_than=now - grace)
    ]


#: every rule, in the order the report lists them; rules taking `now`/`grace` get them
RULES: tuple[Rule, ...] = (
    *dispatch.RULES,  # slots, shifts, incidents' tasks: kept beside dispatch's code
    offers_without_one_sms,
    *logistics.RULES,  # the ledger's, receipts', the fund's: kept beside their code
    outbox_unpublished,
    replies_never_applied,
    events_never_applied,
    events_applied_twice,
)
_TIMED = {
    *dispatch.TIMED,
    offers_without_one_sms,
    outbox_unpublished,
    replies_never_applied,
    events_never_applied,
}


def check(
    *,
    session: Session,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
    hours_tolerance: timedelta = DEFAULT_HOURS_TOLERANCE,
) -> list[Breach]:
    """Every breach of the database's invariants (empty when clean). Reads only.
    `hours_tolerance` is how far past a task's window hours may run
    (`Settings.hours_tolerance`)."""
    now = now or datetime.now(UTC)
    out: list[Breach] = []
    for rule in RULES:
        kwargs: dict[str, Any] = {"now": now, "grace": grace} if rule in _TIMED else {}
        if rule in dispatch.LEDGER:
            kwargs = {"now": now, "tolerance": hours_tolerance}
        out.extend(rule(session=session, **kwargs))
    return out


def report(breaches: Iterable[Breach]) -> str:
    """The breaches as lines of text, grouped by rule."""
    by_rule: dict[str, list[Breach]] = defaultdict(list)
    for b in breaches:
        by_rule[b.rule].append(b)
    lines = []
    for rule, items in by_rule.items():
        lines.append(f"{rule}: {len(items)}")
        lines.extend(f"  {b.subject}: {b.message}" for b in items)
    return "\n".join(lines)
