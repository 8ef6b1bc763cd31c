"""The notify consumer: tells volunteers by SMS what happened to their assignments (offers,
confirmations, dispatcher assignments, expiries, cancellations, completions), in their
language. Messages are queued in the handler's transaction and delivered after it commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from consumers.registry import Context, Handlers
from coordinator.common import utcnow
from coordinator.dispatch import jobs as dispatch_jobs
from coordinator.dispatch import service as dispatch
from coordinator.dispatch.flows import offers
from coordinator.dispatch.models import Assignment, Task
from coordinator.dispatch.texts import task_params
from coordinator.sms import service as sms
from coordinator.volunteers import service as roster
from coordinator.volunteers.models import Volunteer
from events.payloads.assignments import (
    AssignmentAccepted,
    AssignmentCancelled,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
)

handlers = Handlers("notify")


@dataclass(frozen=True)
class Loaded:
    """What the batch's handlers text from: each assignment with its task and volunteer."""

    assignments: dict[int, tuple[Assignment, Task]]
    volunteers: dict[int, Volunteer]


def _read(session: Session, assignment_ids: list[int]) -> Loaded:
    """The assignments with their tasks and volunteers, in two queries per 500. They stay in
    the session, so a handler's own reads of them do not go to the database again."""
    with session.no_autoflush:
        loaded = dispatch.assignments_with_tasks(session=session, assignment_ids=assignment_ids)
        volunteers = roster.by_ids(
            session=session, volunteer_ids=[a.volunteer_id for a, _ in loaded.values()]
        )
    return Loaded(loaded, volunteers)


def _prepare(session: Session, events: list[Any]) -> Loaded:
    """A batch's worth at once, not a query per event (an orange alert sends 5,000 offers)."""
    return _read(session, [e.assignment_id for e in events])


for _type in (
    AssignmentOffered,
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentCancelled,
    AssignmentCompleted,
):
    handlers.prepare(_type)(_prepare)


def _load(ctx: Context, assignment_id: int) -> tuple[Assignment, Task, Volunteer] | None:
    loaded: Loaded = ctx.prepared or _read(ctx.session, [assignment_id])
    pair = loaded.assignments.get(assignment_id)
    if pair is None:
        return None
    volunteer = loaded.volunteers.get(pair[0].volunteer_id)
    return None if volunteer is None else (pair[0], pair[1], volunteer)


def _send(
    ctx: Context,
    assignment_id: int,
    template: str,
    *,
    only_if: str | None = None,
    **extra: Any,
) -> None:
    loaded = _load(ctx, assignment_id)
    if loaded is None:
        return
    a, task, volunteer = loaded
    if volunteer.opted_out or (only_if is not None and a.status != only_if):
        return
    params: dict[str, Any] = task_params(task, volunteer.language, ctx.services.settings.timezone)
    params.update(code=a.short_code, **extra)
    sms.queue_template(
        session=ctx.session,
        phone=volunteer.phone,
        template=template,
        lang=volunteer.language,
        volunteer_id=volunteer.id,
        assignment_id=a.id,
        **params,
    )


@handlers.on(AssignmentOffered)
def on_assignment_offered(ctx: Context, event: AssignmentOffered) -> None:
    # only_if: an offer withdrawn or expired before we got to it is not worth asking about
    timeout = ctx.services.settings.offer_timeout
    deadline = offers.give_late_offer_its_time(
        session=ctx.session, assignment_id=event.assignment_id, now=utcnow(), timeout=timeout
    )
    if deadline is not None:
        timers = ctx.services.timers
        ctx.after_commit(lambda: dispatch_jobs.schedule_expiry(timers, deadline))
    minutes = max(1, round(timeout.total_seconds() / 60))
    _send(ctx, event.assignment_id, "offer", only_if="offered", minutes=minutes)


@handlers.on(AssignmentAccepted)
def on_assignment_accepted(ctx: Context, event: AssignmentAccepted) -> None:
    a = ctx.session.get(Assignment, event.assignment_id)
    if a is None:
        return
    _send(ctx, event.assignment_id, "assigned" if a.source == "dispatcher" else "accepted")


@handlers.on(AssignmentDeclined)
def on_assignment_declined(ctx: Context, event: AssignmentDeclined) -> None:
    _send(ctx, event.assignment_id, "declined")


@handlers.on(AssignmentExpired)
def on_assignment_expired(ctx: Context, event: AssignmentExpired) -> None:
    # an offer that never left (its text was still queued, or lost with a crash before it
    # was redriven) expired unseen: "your invitation has expired" would be news of nothing
    if sms.was_texted(session=ctx.session, assignment_id=event.assignment_id, template="offer"):
        _send(ctx, event.assignment_id, "expired")


@handlers.on(AssignmentCancelled)
def on_assignment_cancelled(ctx: Context, event: AssignmentCancelled) -> None:
    if event.by == "volunteer":
        return  # they opted out: the opted-out confirmation is their last message
    _send(ctx, event.assignment_id, "no_show_released" if event.by == "no_show" else "cancelled")


@handlers.on(AssignmentCompleted)
def on_assignment_completed(ctx: Context, event: AssignmentCompleted) -> None:
    if sms.was_queued(
        session=ctx.session, assignment_id=event.assignment_id, template="checked_out"
    ):
        return  # completed by a check-out, whose answer said it all (the time, the hours)
    _send(ctx, event.assignment_id, "completed")
