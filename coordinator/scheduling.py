"""What a scheduled job is handed, and how code asks for a job to run once later.

The scheduler itself (APScheduler, its job store and the list of jobs) is wired in
`nuanliu.scheduler`; domains only see these types. A job is a plain function taking a
:class:`JobContext`; each domain lists its recurring jobs in its own `jobs.py` (`recurring`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from coordinator.config import Settings


class Timers(Protocol):
    """One-off runs of a listed job (an offer's expiry just after its deadline)."""

    def once(self, job_id: str, at: datetime, *, key: str) -> None:
        """Run the job `job_id` once at `at`; a second call with the same `key` replaces the
        first (one timer per key)."""
        ...


class NoTimers:
    """The timers of a process without a scheduler: nothing is set. The scheduler worker's
    recurring sweeps do the work instead (the expiry sweep expires every overdue offer)."""

    def once(self, job_id: str, at: datetime, *, key: str) -> None:
        return None


@dataclass(frozen=True)
class JobContext:
    """What every scheduled job gets: the settings, the engine and the timers of its process."""

    settings: Settings
    engine: Engine
    timers: Timers


#: A recurring job: (id, function, APScheduler trigger, trigger arguments).
RecurringJob = tuple[str, Callable[[JobContext], Any], str, dict[str, Any]]
