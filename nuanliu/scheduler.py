"""APScheduler: the explicit list of jobs that turn time into events, and how they are run.

Jobs are stored in the database (SQLAlchemyJobStore), so a restart loses none. Every stored
job is the same function, :func:`run_job`, with one argument: the id of a job in
:func:`recurring_jobs`. The scheduler's executor hands it this process's
:class:`~coordinator.scheduling.JobContext`, and it calls the listed job with it. So no job
looks anything up (no runtime, no scheduler, no environment), and a stored row names only a
job id, never a module path of ours.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from coordinator.alerts import jobs as alerts_jobs
from coordinator.config import Settings
from coordinator.dispatch import jobs as dispatch_jobs
from coordinator.logistics import jobs as logistics_jobs
from coordinator.scheduling import JobContext, RecurringJob
from coordinator.volunteers import jobs as volunteers_jobs
from nuanliu import repair

log = logging.getLogger(__name__)


def recurring_jobs(settings: Settings) -> list[RecurringJob]:
    """Every recurring job, in one place: each domain says in its `jobs.py` when its own run."""
    return [
        *dispatch_jobs.recurring(settings),
        *alerts_jobs.recurring(settings),
        *logistics_jobs.recurring(settings),
        *volunteers_jobs.recurring(settings),
        *repair.recurring(settings),
    ]


def run_job(job_id: str, context: JobContext | None = None) -> Any:
    """What APScheduler calls for every job (recurring or one-off): the listed job `job_id`,
    with the context of this process. A stored job no longer listed (a CAP feed since
    unconfigured) is skipped. (`context` has a default only because APScheduler checks the
    stored arguments against the signature; the executor always passes it.)"""
    if context is None:
        raise TypeError("run_job needs the job context (the scheduler's executor passes it)")
    for listed_id, fn, _trigger, _args in recurring_jobs(context.settings):
        if listed_id == job_id:
            return fn(context)
    log.warning("scheduled job %r is not in the job list; skipped", job_id)
    return None


class _WithContext:
    """A stored job as APScheduler's `run_job` reads it, with the context among its keyword
    arguments (the job itself, shared with the store, is left as it is)."""

    def __init__(self, job: Job, context: JobContext) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "context": context}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _ContextExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, handing every job this process's job context. Executors are
    APScheduler's documented extension point (`_do_submit_job`)."""

    def __init__(self, context: JobContext) -> None:
        super().__init__()
        self.context = context

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        super()._do_submit_job(_WithContext(job, self.context), run_times)


class SchedulerTimers:
    """`Timers` on this process's scheduler: a one-off run of a listed job, stored like the
    recurring ones."""

    def __init__(self, scheduler: BackgroundScheduler) -> None:
        self.scheduler = scheduler

    def once(self, job_id: str, at: datetime, *, key: str) -> None:
        self.scheduler.add_job(
            run_job,
            "date",
            args=[job_id],
            run_date=at,
            id=key,
            replace_existing=True,
            misfire_grace_time=None,
        )


def make_scheduler(engine: Any, settings: Settings) -> BackgroundScheduler:
    """A scheduler storing its jobs in the database, not started, without an executor yet
    (:func:`install_jobs` adds it with the job context, which needs the scheduler's timers)."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
        timezone=settings.timezone,
    )


def install_jobs(scheduler: BackgroundScheduler, context: JobContext) -> None:
    """Give `scheduler` the executor that hands out `context`, and every recurring job."""
    scheduler.add_executor(_ContextExecutor(context), "default")
    for job_id, _fn, trigger, args in recurring_jobs(context.settings):
        scheduler.add_job(run_job, trigger, args=[job_id], id=job_id, replace_existing=True, **args)
