"""The board feed of an API process, through the real broker: a process that starts (or
restarts) reads the log from the start, so nothing is missed while it joins, but does not push
events from well before it started; browsers have those in their snapshot."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from consumers.board import HISTORY_MARGIN
from coordinator.common import utcnow
from events.outbox import pending_count, stage
from events.payloads.sms import SmsReceived
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def _text(engine: Engine, body: str, *, age: timedelta = timedelta(0)) -> str:
    with Session(engine) as s:
        row = stage(s, SmsReceived(message_id=1, phone="+8613800000000", body=body))
        row.created_at = utcnow() - age
        s.commit()
        return row.event_id


def _pending(engine: Engine) -> int:
    with Session(engine) as s:
        return pending_count(s)


def test_a_new_board_feed_skips_history_but_not_what_happens_while_it_joins(
    make_runtime: Any, engine: Engine
) -> None:
    old = {_text(engine, f"yesterday {n}", age=timedelta(days=1)) for n in range(5)}
    margin = _text(engine, "just before the start", age=HISTORY_MARGIN / 2)
    api = make_runtime(relay=True, consumers=("board",))
    # staged at once, before the feed can have joined its group
    joining = _text(engine, "while the feed joins")
    hub = api.services.board_hub

    def pushed() -> set[str]:
        return {e.data["id"] for e in list(hub._ring)}

    wait_for(lambda: {joining, margin} <= pushed(), timeout=60, interval=0.2)
    with Session(engine) as s:
        assert pending_count(s) == 0  # the old ones were published too, before these
    assert not pushed() & old, "a new feed pushed the day's history again"


def test_an_unwatched_feed_holds_its_partitions_and_a_new_board_misses_nothing(
    make_runtime: Any, engine: Engine, tokens: dict[str, str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bench.serving import serve

    api = make_runtime(relay=True, consumers=("board",))
    hub = api.services.board_hub
    hub.linger_s = 0.5
    served = serve(api)
    try:
        # nobody watches: the feed holds every partition and reads nothing
        wait_for(lambda: not hub.live.is_set(), timeout=60, interval=0.1)
        consumer = api.runners["board"]._consumer
        assert consumer.assignment() and consumer.paused() == consumer.assignment()
        published = hub.published
        unseen = _text(engine, "while nobody watched")
        wait_for(lambda: _pending(engine) == 0, timeout=20)
        time.sleep(1.0)
        assert hub.published == published, "a held feed decoded and pushed events"

        # a board arrives: it waits for the feed to reach the newest events, takes its
        # snapshot, then sees what happens next and never what happened unwatched (events
        # of the last minute may come again: tansu's "end" is the start of its last batch)
        with ThreadPoolExecutor(1) as pool:
            board = pool.submit(_events_until, served.url, tokens["dispatcher"], "while the board")
            wait_for(lambda: hub.client_count == 1, timeout=30, interval=0.05)
            after = _text(engine, "while the board watches")
            frames = board.result(timeout=60)
        assert frames[0]["event"] == "snapshot"
        assert f'"{after}"' in frames[-1]["data"]
        assert not any(unseen in f["data"] for f in frames[1:])  # the snapshot may have it
        assert hub.live.is_set() and not consumer.paused()
    finally:
        served.stop()


def _events_until(url: str, token: str, marker: str) -> list[dict[str, str]]:
    """A stream's events up to the first whose data mentions `marker`."""
    import httpx

    events: list[dict[str, str]] = []
    with httpx.stream(
        "GET", f"{url}/board/stream", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as response:
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                key, _, value = line.partition(":")
                if key and not line.startswith(":"):
                    current[key] = value.strip()
                continue
            if "event" in current:
                events.append(current)
                if marker in current.get("data", ""):
                    return events
            current = {}
    return events
