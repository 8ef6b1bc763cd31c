"""Scheduler jobs of dispatch: offer expiry and shift reminders. Each job takes the
:class:`~coordinator.scheduling.JobContext` its process hands it and opens its own session."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.db import session_scope
from coordinator.dispatch.flows import no_shows, reminders, responses
from coordinator.dispatch.flows.offers import Offer
from coordinator.scheduling import JobContext, RecurringJob, Timers

log = logging.getLogger(__name__)

#: the expiry sweep; also what an offer's one-off timer runs
EXPIRE_OFFERS = "dispatch-expire-offers"
#: the no-show sweep; also what the one-off timers after a shift's start run
NO_SHOWS = "dispatch-no-shows"


def expire_due(context: JobContext) -> int:
    """Expire every overdue offer (AssignmentExpired; dispatch refills each slot)."""
    with session_scope(context.engine) as session:
        count = responses.expire_overdue(session=session)
    if count:
        log.info("expired %d offers", count)
    return count


def send_reminders(context: JobContext) -> int:
    """Remind volunteers of accepted shifts that start within NUANLIU_REMINDER_BEFORE."""
    settings = context.settings
    with session_scope(context.engine) as session:
        return reminders.send_reminders(
            session=session, before=settings.reminder_before, tz=settings.timezone
        )


def sweep_no_shows(context: JobContext) -> int:
    """Remind the accepted volunteers not checked in NUANLIU_NO_SHOW_REMIND_AFTER past their
    shift's start, and give away the slots of those not in NUANLIU_NO_SHOW_AFTER past it."""
    settings = context.settings
    with session_scope(context.engine) as session:
        swept = no_shows.sweep(
            session=session,
            remind_after=settings.no_show_remind_after,
            release_after=settings.no_show_after,
            tz=settings.timezone,
        )
    if swept.warned or swept.released:
        log.info("no-shows: %d reminded, %d slots released", swept.warned, swept.released)
    return swept.released


def schedule_no_show_checks(timers: Timers, settings: Settings, starts_at: datetime) -> None:
    """The two one-off runs of the no-show sweep for a shift starting at `starts_at` (the
    reminder's and the release's, a second after each; one pair per start time, shared by
    the shift's volunteers). Stored with the scheduler's jobs, so they survive a restart; the
    recurring sweep catches what a process without a scheduler (`NoTimers`) leaves."""
    start = aware(starts_at)
    assert start is not None
    for phase, after in (
        ("remind", settings.no_show_remind_after),
        ("release", settings.no_show_after),
    ):
        run_at = start + after + timedelta(seconds=1)
        if run_at <= utcnow():
            continue  # due already: the recurring sweep is on it
        timers.once(NO_SHOWS, run_at, key=f"no-show-{phase}-{int(start.timestamp())}")


def schedule_expiry(timers: Timers, expires_at: datetime) -> None:
    """A one-off timer that runs the expiry just after `expires_at` (one timer per second of
    deadline: a solve's offers share it). Without a scheduler in this process (`NoTimers`) the
    recurring sweep of the scheduler worker expires them instead."""
    run_at = expires_at + timedelta(seconds=1)
    if run_at <= utcnow():
        run_at = utcnow() + timedelta(seconds=1)
    timers.once(EXPIRE_OFFERS, run_at, key=f"offer-expiry-{int(expires_at.timestamp())}")


def schedule_expiries(timers: Timers, offers: Iterable[Offer]) -> None:
    """The expiry timers of offers just committed (one per distinct deadline); call after the
    commit, never before (a rolled-back offer must not leave a timer)."""
    for deadline in {aware(o.expires_at) for o in offers}:
        if deadline is not None:
            schedule_expiry(timers, deadline)


def recurring(settings: Settings) -> list[RecurringJob]:
    """Dispatch's recurring jobs: the expiry sweep (so no offer depends on a single timer),
    the reminder sweep and the no-show sweep (likewise behind its timers)."""
    return [
        (EXPIRE_OFFERS, expire_due, "interval", {"seconds": 30}),
        ("dispatch-reminders", send_reminders, "interval", {"seconds": 60}),
        (NO_SHOWS, sweep_no_shows, "interval", {"seconds": 60}),
    ]
