"""APScheduler: the explicit list of jobs that turn time into events.

Jobs are stored in the database (SQLAlchemyJobStore), so a restart loses none. Every job
function is a plain module-level function that opens its own session: APScheduler pickles a
reference to it, never an object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from coordinator.config import Settings

log = logging.getLogger(__name__)

#: The running scheduler of this process (None in processes that run no scheduler). Flows that
#: need a one-off timer (an offer's expiry) add jobs through :func:`schedule_once`.
_scheduler: BackgroundScheduler | None = None

#: Recurring jobs: (id, function, trigger, trigger arguments). Domains append to this list in
#: their own `jobs.py`, imported by :func:`recurring_jobs`.
RecurringJob = tuple[str, Callable[..., Any], str, dict[str, Any]]


def recurring_jobs(settings: Settings) -> list[RecurringJob]:
    """Every recurring job, in one place."""
    from coordinator import repair
    from coordinator.alerts import jobs as alerts_jobs
    from coordinator.dispatch import jobs as dispatch_jobs
    from coordinator.logistics import jobs as logistics_jobs

    return [
        *dispatch_jobs.recurring(settings),
        *alerts_jobs.recurring(settings),
        *logistics_jobs.recurring(settings),
        *repair.recurring(settings),
    ]


def make_scheduler(engine: Engine, settings: Settings) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
        timezone=settings.timezone,
    )
    for job_id, fn, trigger, args in recurring_jobs(settings):
        scheduler.add_job(fn, trigger, id=job_id, replace_existing=True, **args)
    return scheduler


def start(engine: Engine, settings: Settings) -> BackgroundScheduler:
    global _scheduler
    _scheduler = make_scheduler(engine, settings)
    _scheduler.start()
    return _scheduler


def stop() -> None:
    global _scheduler
    if _scheduler is not None:
        _scheduler.shutdown(wait=True)
        _scheduler = None


def current() -> BackgroundScheduler | None:
    return _scheduler
