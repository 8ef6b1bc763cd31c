"""The dispatch consumer: alerts become tasks and offers; replies, declines, expiries and
cancellations steer the rest. Each handler is one transaction (the runner's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from consumers.registry import Context, Handlers
from coordinator.dispatch import jobs
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows import (
    attendance,
    incidents,
    offers,
    planning,
    replies,
    responses,
    rota,
)
from coordinator.dispatch.models import Assignment, Incident, IncidentStatus
from coordinator.sms.replies import reply_of
from events.payloads.alerts import AlertRaised
from events.payloads.assignments import (
    AssignmentCancelled,
    AssignmentDeclined,
    AssignmentExpired,
)
from events.payloads.incidents import IncidentClosed, TravelRushDayBegan
from events.payloads.rota import RotaWeekOpened
from events.payloads.sms import SmsFailed, SmsReceived

handlers = Handlers("dispatch")


def set_offer_timers(ctx: Context, made: Sequence[offers.Offer]) -> None:
    """After the commit: the offers' expiry timers, and the no-show checks of their shifts
    (one pair per start time, shared by the shift's volunteers). Set here, once per batch of
    offers, rather than for every acceptance (which made the dispatch worker decode and apply
    an AssignmentAccepted, two reads and a bookkeeping row, for every SMS yes). A slot
    assigned by hand, or taken after its shift began, is caught by the recurring sweep
    within a minute."""
    if not made:
        return
    timers, settings = ctx.services.timers, ctx.services.settings
    starts = svc.task_starts(session=ctx.session, task_ids={o.task_id for o in made})

    def after() -> None:
        jobs.schedule_expiries(timers, made)
        for start in starts:
            jobs.schedule_no_show_checks(timers, settings, start)

    ctx.after_commit(after)


def _open_incident(ctx: Context, incident_id: int) -> Incident | None:
    """The incident an event is about, if it is still open (a closed one plans nothing)."""
    incident = svc.get_incident(session=ctx.session, incident_id=incident_id)
    return incident if incident is not None and incident.status == IncidentStatus.OPEN else None


@handlers.on(AlertRaised)
def on_alert_raised(ctx: Context, event: AlertRaised) -> None:
    """Plan the incident's tasks from its playbook and offer every free slot."""
    incident = _open_incident(ctx, event.incident_id)
    if incident is None:
        return
    made = planning.plan_and_offer(
        session=ctx.session,
        incident=incident,
        starts_at=event.starts_at,
        settings=ctx.services.settings,
    )
    set_offer_timers(ctx, made)


@handlers.on(TravelRushDayBegan)
def on_travel_rush_day_began(ctx: Context, event: TravelRushDayBegan) -> None:
    """Plan the day's station shifts of the open rush and offer them."""
    incident = _open_incident(ctx, event.incident_id)
    if incident is None:
        return
    made = planning.plan_day(
        session=ctx.session,
        incident=incident,
        day=event.day,
        starts_at=event.starts_at,
        settings=ctx.services.settings,
    )
    set_offer_timers(ctx, made)


@handlers.on(RotaWeekOpened)
def on_rota_week_opened(ctx: Context, event: RotaWeekOpened) -> None:
    """Publish the coming week's station shifts of the open rush and offer their free
    slots by SMS (the weekly rota offer); a volunteer answers as to any offer."""
    incident = _open_incident(ctx, event.incident_id)
    if incident is None:
        return
    made = rota.plan_week(
        session=ctx.session,
        incident=incident,
        first=event.first_day,
        last=event.last_day,
        settings=ctx.services.settings,
    )
    set_offer_timers(ctx, made)


def _refill(ctx: Context, task_id: int, assignment_id: int) -> None:
    a = ctx.session.get(Assignment, assignment_id)
    if a is None:
        return
    offer = offers.refill_slot(
        session=ctx.session, task_id=task_id, slot=a.slot, settings=ctx.services.settings
    )
    if offer is not None:
        set_offer_timers(ctx, [offer])


@handlers.on(AssignmentDeclined)
def on_assignment_declined(ctx: Context, event: AssignmentDeclined) -> None:
    _refill(ctx, event.task_id, event.assignment_id)


@handlers.on(AssignmentExpired)
def on_assignment_expired(ctx: Context, event: AssignmentExpired) -> None:
    _refill(ctx, event.task_id, event.assignment_id)


@handlers.on(AssignmentCancelled)
def on_assignment_cancelled(ctx: Context, event: AssignmentCancelled) -> None:
    _refill(ctx, event.task_id, event.assignment_id)


def _an_offer(event: SmsFailed) -> bool:
    return event.kind == "offer" and event.assignment_id is not None


@handlers.on(SmsFailed, when=_an_offer)
def on_offer_text_failed(ctx: Context, event: SmsFailed) -> None:
    """An offer that could not reach its volunteer goes to the next best one now, not when
    its deadline passes (the expiry stages `AssignmentExpired`, whose handler refills)."""
    assert event.assignment_id is not None
    responses.offer_not_delivered(
        session=ctx.session, assignment_id=event.assignment_id, error=event.error
    )


@handlers.on(IncidentClosed)
def on_incident_closed(ctx: Context, event: IncidentClosed) -> None:
    """Stand the incident's volunteers down."""
    incidents.stand_down(session=ctx.session, incident_id=event.incident_id)


def _not_a_receipt(event: SmsReceived) -> bool:
    return reply_of(event).intent != "receipt"  # station managers' texts: inventory's


@handlers.prepare(SmsReceived)
def prepare_replies(session: Session, events: list[SmsReceived]) -> replies.ReplyContext:
    """Who sent the batch's texts and what they have open, in a few queries for all."""
    return replies.reply_context(session=session, texts=[(e.phone, reply_of(e)) for e in events])


@handlers.on(SmsReceived, when=_not_a_receipt)
def on_sms_received(ctx: Context, event: SmsReceived) -> None:
    """A volunteer answered: accept, decline, done, stop, or something we explain."""
    replies.handle_reply(
        session=ctx.session,
        phone=event.phone,
        reply=reply_of(event),
        context=ctx.prepared,
        answered_at=ctx.envelope.time,  # staged with the text as it arrived
        auto_answer_limit=ctx.services.settings.auto_answer_limit,
        rules=attendance.Rules.of(ctx.services.settings),
        settings=ctx.services.settings,
    )
