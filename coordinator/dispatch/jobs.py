"""Scheduler jobs of dispatch: offer expiry and shift reminders. Module-level functions that
open their own session (APScheduler stores a reference to them in the database)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.db import session_scope
from coordinator.dispatch import reminders, responses
from coordinator.dispatch.offers import Offer

log = logging.getLogger(__name__)


def _runtime():  # type: ignore[no-untyped-def]
    from coordinator.runtime import current

    return current()


def expire_due() -> int:
    """Expire every overdue offer (AssignmentExpired; dispatch refills each slot)."""
    rt = _runtime()
    assert rt.engine is not None
    with session_scope(rt.engine) as session:
        count = responses.expire_overdue(session=session)
    if count:
        log.info("expired %d offers", count)
    return count


def send_reminders() -> int:
    """Remind volunteers of accepted shifts that start within NUANLIU_REMINDER_BEFORE."""
    rt = _runtime()
    assert rt.engine is not None
    with session_scope(rt.engine) as session:
        return reminders.send_reminders(
            session=session, before=rt.settings.reminder_before, tz=rt.settings.timezone
        )


def schedule_expiry(expires_at: datetime) -> None:
    """A one-off timer that runs the expiry just after `expires_at` (one job per second of
    deadline: a solve's offers share it). Without a scheduler in this process the recurring
    sweep of the scheduler worker expires them instead."""
    from coordinator import scheduler

    running = scheduler.current()
    if running is None:
        return
    run_at = expires_at + timedelta(seconds=1)
    if run_at <= utcnow():
        run_at = utcnow() + timedelta(seconds=1)
    running.add_job(
        expire_due,
        "date",
        run_date=run_at,
        id=f"offer-expiry-{int(expires_at.timestamp())}",
        replace_existing=True,
        misfire_grace_time=None,
    )


def schedule_expiries(offers: Iterable[Offer]) -> None:
    """The expiry timers of offers just committed (one per distinct deadline); call after the
    commit, never before (a rolled-back offer must not leave a timer)."""
    for deadline in {aware(o.expires_at) for o in offers}:
        if deadline is not None:
            schedule_expiry(deadline)


def recurring(settings: Settings) -> list[tuple[str, Callable[..., Any], str, dict[str, Any]]]:
    """Dispatch's recurring jobs: the expiry sweep (so no offer depends on a single timer)
    and the reminder sweep."""
    return [
        ("dispatch-expire-offers", expire_due, "interval", {"seconds": 30}),
        ("dispatch-reminders", send_reminders, "interval", {"seconds": 60}),
    ]
