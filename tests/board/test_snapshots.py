"""Board snapshots shared between the boards asking at about the same time: one computation
at a time, reused while young or while nothing has happened, never older than it says."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from coordinator.board.snapshots import SnapshotCache
from nuanliu.app import create_app
from tests.conftest import bearer


class Clock:
    """A monotonic clock the test moves: ages without sleeping."""

    def __init__(self) -> None:
        self.now = time.monotonic()  # where the real one is: a cache may have used that

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _counting(delay: float = 0.0) -> tuple[list[str], Any]:
    calls: list[str] = []

    def compute(last_id: str) -> dict[str, Any]:
        calls.append(last_id)
        time.sleep(delay)
        return {"last_id": last_id, "n": len(calls)}

    return calls, compute


def test_reused_while_nothing_happened_however_old() -> None:
    async def main() -> None:
        cache = SnapshotCache(max_age_s=0.0)
        calls, compute = _counting()
        assert await cache.get("a-1", compute) is await cache.get("a-1", compute)
        assert calls == ["a-1"]

    asyncio.run(main())


def test_without_a_live_feed_only_age_counts() -> None:
    # a held feed hears of no event, so "nothing happened since" cannot be known
    async def main() -> None:
        clock = Clock()
        cache = SnapshotCache(max_age_s=0.2, clock=clock)
        calls, compute = _counting()
        assert await cache.get(None, compute) is await cache.get(None, compute)
        clock.advance(0.19)
        await cache.get(None, compute)
        assert calls == [None]  # still young
        clock.advance(0.02)
        await cache.get(None, compute)
        assert calls == [None, None]

    asyncio.run(main())


def test_a_new_event_means_a_new_snapshot_once_the_shared_one_is_too_old() -> None:
    async def main() -> None:
        clock = Clock()
        cache = SnapshotCache(max_age_s=0.2, clock=clock)
        calls, compute = _counting()
        await cache.get("a-1", compute)
        # an event arrived, but the snapshot is young: shared, and it says which event it is of
        assert (await cache.get("a-2", compute))["last_id"] == "a-1"
        clock.advance(0.25)
        assert (await cache.get("a-2", compute))["last_id"] == "a-2"
        assert calls == ["a-1", "a-2"]

    asyncio.run(main())


def test_boards_asking_at_once_wait_for_one_computation_without_a_thread_each() -> None:
    """Forty-eight boards at once take one worker thread (the computation), not forty-eight:
    waiting in threads is what once stopped the API for good (see SnapshotCache)."""

    async def main() -> None:
        cache = SnapshotCache(max_age_s=0.5)
        calls, compute = _counting(delay=0.2)
        before = threading.active_count()
        boards = [asyncio.ensure_future(cache.get(f"a-{n}", compute)) for n in range(48)]
        await asyncio.sleep(0.1)
        assert threading.active_count() <= before + 1  # the one computing
        boards[0].cancel()  # a board that goes away does not cancel the others
        got = await asyncio.gather(*boards[1:])
        assert len(calls) == 1 and len(got) == 47
        assert all(g is got[0] for g in got)

    asyncio.run(main())


def test_the_snapshot_route_shares_and_refreshes(make_runtime: Any, tokens: dict[str, str]) -> None:
    rt = make_runtime(relay=False, consumers=())
    with TestClient(create_app(runtime=rt)) as api:
        h = bearer(tokens["dispatcher"])
        first = api.get("/board/snapshot", headers=h).json()
        again = api.get("/board/snapshot", headers=h).json()
        cache = rt.services.snapshots
        assert first == again and cache.computed == 1
        clock = Clock()
        cache.clock = clock
        rt.services.board_hub.publish({"type": "nuanliu.test", "id": "x", "data": {}})
        assert api.get("/board/snapshot", headers=h).json() == first  # young: shared
        clock.advance(cache.max_age_s + 0.05)
        fresh = api.get("/board/snapshot", headers=h).json()
        assert fresh["last_id"] != first["last_id"] and cache.computed == 2
        assert "incidents" in fresh and "stations" in fresh
