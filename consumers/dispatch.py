"""The dispatch consumer: alerts become tasks and offers; replies, declines, expiries and
cancellations steer the rest. Each handler is one transaction (the runner's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from consumers.registry import Context, Handlers
from coordinator.dispatch import flows, jobs
from coordinator.dispatch import service as svc
from coordinator.dispatch.models import Assignment
from coordinator.sms.replies import parse_reply
from events.payloads.alerts import AlertRaised
from events.payloads.assignments import (
    AssignmentCancelled,
    AssignmentDeclined,
    AssignmentExpired,
)
from events.payloads.incidents import IncidentClosed
from events.payloads.sms import SmsReceived

handlers = Handlers("dispatch")


def _timers(ctx: Context, offers: Sequence[flows.Offer]) -> None:
    if offers:
        timers = ctx.services.timers
        ctx.after_commit(lambda: jobs.schedule_expiries(timers, offers))


@handlers.on(AlertRaised)
def on_alert_raised(ctx: Context, event: AlertRaised) -> None:
    """Plan the incident's tasks from its playbook and offer every free slot."""
    incident = svc.get_incident(session=ctx.session, incident_id=event.incident_id)
    if incident is None or incident.status != "open":
        return
    offers = flows.plan_and_offer(
        session=ctx.session,
        incident=incident,
        starts_at=event.starts_at,
        settings=ctx.services.settings,
    )
    _timers(ctx, offers)


def _refill(ctx: Context, task_id: int, assignment_id: int) -> None:
    a = ctx.session.get(Assignment, assignment_id)
    if a is None:
        return
    offer = flows.refill_slot(
        session=ctx.session, task_id=task_id, slot=a.slot, settings=ctx.services.settings
    )
    if offer is not None:
        _timers(ctx, [offer])


@handlers.on(AssignmentDeclined)
def on_assignment_declined(ctx: Context, event: AssignmentDeclined) -> None:
    _refill(ctx, event.task_id, event.assignment_id)


@handlers.on(AssignmentExpired)
def on_assignment_expired(ctx: Context, event: AssignmentExpired) -> None:
    _refill(ctx, event.task_id, event.assignment_id)


@handlers.on(AssignmentCancelled)
def on_assignment_cancelled(ctx: Context, event: AssignmentCancelled) -> None:
    _refill(ctx, event.task_id, event.assignment_id)


@handlers.on(IncidentClosed)
def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
    """Stand the incident's volunteers down."""
    flows.stand_down(session=ctx.session, incident_id=event.incident_id)


def _not_a_receipt(event: SmsReceived) -> bool:
    return parse_reply(event.body).intent != "receipt"  # station managers' texts: inventory's


@handlers.prepare(SmsReceived)
def prepare_replies(session: Session, events: list[SmsReceived]) -> flows.ReplyContext:
    """Who sent the batch's texts and what they have open, in a few queries for all."""
    return flows.reply_context(session=session, texts=[(e.phone, e.body) for e in events])


@handlers.on(SmsReceived, when=_not_a_receipt)
def on_sms_received(ctx: Context, event: SmsReceived) -> None:
    """A volunteer answered: accept, decline, done, stop, or something we explain."""
    flows.handle_reply(
        session=ctx.session,
        phone=event.phone,
        body=event.body,
        context=ctx.prepared,
        answered_at=ctx.envelope.time,  # staged with the text as it arrived
        auto_answer_limit=ctx.services.settings.auto_answer_limit,
    )
