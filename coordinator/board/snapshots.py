"""One board snapshot per process at a time, shared by every board watching it.

Each board fetches a snapshot a quarter second after events arrive; during a storm, with ten
dispatchers and wall screens watching, that is forty snapshots a second at ~100 ms of CPU
each, more than two cores have. Here concurrent requests wait for the one being computed
(single flight) and a snapshot is reused while it is younger than MAX_AGE_S, or for as long as
no event has reached this process since it was taken (nothing it shows can have changed).

A reused snapshot may predate the event that made a board ask for it; its `last_id` says so,
and the board asks again until it has one that includes the newest event it has seen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: how old a shared snapshot may be; the board shows a refresh a quarter second after events
MAX_AGE_S = 0.5


class SnapshotCache:
    """The latest snapshot and when it was taken (thread-safe)."""

    def __init__(self, *, max_age_s: float = MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._value: dict[str, Any] | None = None
        self._taken = 0.0
        self.computed = 0

    def get(
        self, last_id: str | None, compute: Callable[[str | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """The snapshot for a board when the newest event here is `last_id`: a shared one
        if it is recent enough or nothing has happened since, else `compute(last_id)`.
        `last_id=None` (this process does not follow events now): recent enough only."""
        with self._lock:
            value = self._value
            if value is not None and (
                (last_id is not None and value.get("last_id") == last_id)
                or time.monotonic() - self._taken < self.max_age_s
            ):
                return value
            value = compute(last_id)
            self._value, self._taken = value, time.monotonic()
            self.computed += 1
            return value


def snapshot_cache_for(services: dict[str, Any]) -> SnapshotCache:
    """The runtime's cache (one per process, like the hub)."""
    cache = services.get("board_snapshots")
    if cache is None:
        cache = services.setdefault("board_snapshots", SnapshotCache())
    return cache  # type: ignore[no-any-return]
