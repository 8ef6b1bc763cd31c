"""The notify consumer: tells volunteers by SMS what happened to their assignments (offers,
confirmations, dispatcher assignments, expiries, cancellations, completions), in their
language. Messages are queued in the handler's transaction and delivered after it commits."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from consumers.registry import Context, Handlers
from coordinator.common import utcnow
from coordinator.dispatch import jobs as dispatch_jobs
from coordinator.dispatch.flows import offers
from coordinator.dispatch.models import Assignment, Task
from coordinator.dispatch.texts import task_params
from coordinator.sms import service as sms
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


def _load(ctx: Context, assignment_id: int) -> tuple[Assignment, Task, Volunteer] | None:
    """The assignment with its task and volunteer, in one query (thousands of offers go out
    after a big alert)."""
    with ctx.session.no_autoflush:
        row = ctx.session.exec(
            select(Assignment, Task, Volunteer)
            .join(Task, col(Task.id) == Assignment.task_id)
            .join(Volunteer, col(Volunteer.id) == Assignment.volunteer_id)
            .where(Assignment.id == assignment_id)
        ).first()
    return None if row is None else (row[0], row[1], row[2])


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
    _send(ctx, event.assignment_id, "cancelled")


@handlers.on(AssignmentCompleted)
def on_assignment_completed(ctx: Context, event: AssignmentCompleted) -> None:
    _send(ctx, event.assignment_id, "completed")
