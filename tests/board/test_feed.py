"""The board feed of an API process, through the real broker: a process that starts (or
restarts) reads the log from the start, so nothing is missed while it joins, but does not push
events from well before it started; browsers have those in their snapshot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from consumers.board import HISTORY_MARGIN
from coordinator.board.hub import hub_for
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


def test_a_new_board_feed_skips_history_but_not_what_happens_while_it_joins(
    make_runtime: Any, engine: Engine
) -> None:
    old = {_text(engine, f"yesterday {n}", age=timedelta(days=1)) for n in range(5)}
    margin = _text(engine, "just before the start", age=HISTORY_MARGIN / 2)
    api = make_runtime(relay=True, consumers=("board",))
    # staged at once, before the feed can have joined its group
    joining = _text(engine, "while the feed joins")
    hub = hub_for(api.services)

    def pushed() -> set[str]:
        return {e.data["id"] for e in list(hub._ring)}

    wait_for(lambda: {joining, margin} <= pushed(), timeout=60, interval=0.2)
    with Session(engine) as s:
        assert pending_count(s) == 0  # the old ones were published too, before these
    assert not pushed() & old, "a new feed pushed the day's history again"
