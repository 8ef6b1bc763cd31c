"""One board snapshot per process at a time, shared by every board watching it.

Each board fetches a snapshot a quarter second after events arrive; during a storm, with ten
dispatchers and wall screens watching, that is forty snapshots a second at ~100 ms of CPU
each, more than two cores have. Here concurrent requests await the one being computed
(single flight) and a snapshot is reused while it is younger than MAX_AGE_S, or for as long as
no event has reached this process since it was taken (nothing it shows can have changed).

A reused snapshot may predate the event that made a board ask for it; its `last_id` says so,
and the board asks again until it has one that includes the newest event it has seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool

#: how old a shared snapshot may be; the board shows a refresh a quarter second after events
MAX_AGE_S = 0.5


class SnapshotCache:
    """The latest snapshot and when it was taken. Lives on the event loop: a board asking
    while one is computed awaits that computation without holding a worker thread. (Waiting
    on a lock in the threadpool let forty boards take every thread while the one computing
    waited for a database connection still held by requests whose clean-up needed a thread:
    the API stopped for good under a storm of board refreshes and station writes.)"""

    def __init__(
        self, *, max_age_s: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`clock` (seconds, monotonic) is what ages snapshots; tests pass their own."""
        self.max_age_s = max_age_s
        self.clock = clock
        self._value: dict[str, Any] | None = None
        self._taken = 0.0
        self._computing: asyncio.Future[dict[str, Any]] | None = None
        self.computed = 0

    async def get(
        self, last_id: str | None, compute: Callable[[str | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """The snapshot for a board when the newest event here is `last_id`: a shared one
        if it is recent enough or nothing has happened since, else `compute(last_id)` (run in
        a worker thread, once for every board asking meanwhile). `last_id=None` (this process
        does not follow events now): recent enough only."""
        value = self._value
        if value is not None and (
            (last_id is not None and value.get("last_id") == last_id)
            or self.clock() - self._taken < self.max_age_s
        ):
            return value
        if self._computing is None:
            self._computing = asyncio.ensure_future(self._compute(last_id, compute))
        # shielded: a board that goes away does not cancel the others' snapshot
        return await asyncio.shield(self._computing)

    async def _compute(
        self, last_id: str | None, compute: Callable[[str | None], dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            value = await run_in_threadpool(compute, last_id)
            self._value, self._taken = value, self.clock()
            self.computed += 1
            return value
        finally:
            self._computing = None
