"""Scheduled jobs of the roster: the reminder of expiring skill certificates."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from coordinator.common import local_date
from coordinator.config import Settings
from coordinator.db import session_scope
from coordinator.scheduling import JobContext, RecurringJob
from coordinator.volunteers import skill_reminders


def remind_expiring_skills(context: JobContext) -> int:
    """The daily job: text each volunteer whose certificate expires within 30 days, once."""
    today = local_date(context.settings.timezone)
    with session_scope(context.engine) as session:
        return skill_reminders.remind_expiring(session=session, today=today)


def recurring(settings: Settings) -> list[RecurringJob]:
    """Daily at 10:00 local (a decent hour for a text), and once at start so a restart after
    a missed morning catches up (the claim makes the second run send nothing)."""
    return [
        (
            "volunteers-skill-expiry",
            remind_expiring_skills,
            "cron",
            {"hour": 10, "minute": 0, "next_run_time": datetime.now(ZoneInfo(settings.timezone))},
        )
    ]
