"""The services one process shares, built once by the composition layer (`nuanliu.runtime`)
and handed in: to every consumer handler as `ctx.services`, to scheduled jobs as their
:class:`~coordinator.scheduling.JobContext`, to routes as `app.state.services` (read through
the `Annotated` dependencies in `coordinator.deps` and `coordinator.board.views`).

Frozen: nothing adds a service at run time, and nothing finds one by a string key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from coordinator.board.hub import Hub
from coordinator.board.snapshots import SnapshotCache
from coordinator.config import Settings
from coordinator.scheduling import JobContext, NoTimers, Timers
from coordinator.sms.results import Gateway


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    #: one-off runs of scheduled jobs (an offer's expiry); `NoTimers` without a scheduler
    timers: Timers = field(default_factory=NoTimers)
    #: the board's fan-out to the browsers connected to this process
    board_hub: Hub = field(default_factory=Hub)
    #: the board snapshot shared by the boards watching this process
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    #: the SMS provider, in the process that delivers texts (the notify worker); else None
    sms_gateway: Gateway | None = None

    @property
    def jobs(self) -> JobContext:
        """What this process's scheduled jobs get."""
        return JobContext(settings=self.settings, engine=self.engine, timers=self.timers)
