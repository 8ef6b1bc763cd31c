"""`/board/stream` over real HTTP (uvicorn): a snapshot first, Last-Event-ID replay after a
reconnect, a snapshot again for an id it cannot replay, and bad headers refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.serving import Served, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def bare(make_runtime: Any, tokens: dict[str, str]) -> Iterator[Served]:
    s = serve(make_runtime(relay=False, consumers=()))
    yield s
    s.stop()


def read_events(
    url: str, token: str, count: int, last_id: str | None = None
) -> list[dict[str, str]]:
    """The first `count` events (not comments) of a stream, as {event, id, data}."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    events: list[dict[str, str]] = []
    with httpx.stream("GET", f"{url}/board/stream", headers=headers, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
            elif not line.startswith(":") and ":" in line:
                key, _, value = line.partition(":")
                current[key] = value.strip()
    return events


def test_snapshot_then_replay_after_reconnect(bare: Served, tokens: dict[str, str]) -> None:
    token = tokens["dispatcher"]
    (first,) = read_events(bare.url, token, 1)
    assert first["event"] == "snapshot" and '"incidents"' in first["data"]
    hub = bare.runtime.services.board_hub
    for n in range(3):
        hub.publish({"type": "nuanliu.test", "id": f"e{n}", "data": {"n": n}})
    replayed = read_events(bare.url, token, 3, last_id=first["id"])
    assert [e["event"] for e in replayed] == ["board"] * 3
    assert ['"e0"' in replayed[0]["data"], '"e2"' in replayed[2]["data"]] == [True, True]
    (fresh,) = read_events(bare.url, token, 1, last_id="another-process-7")
    assert fresh["event"] == "snapshot"


def test_bad_last_event_id_and_roles(bare: Served, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tokens['dispatcher']}", "Last-Event-ID": "x" * 100}
    assert httpx.get(f"{bare.url}/board/stream", headers=headers).status_code == 422
    for who in ("manager_a", "manager_b"):
        bad = {"Authorization": f"Bearer {tokens[who]}"}
        assert httpx.get(f"{bare.url}/board/stream", headers=bad).status_code == 403
    forged = {"Authorization": "Bearer nl_not-a-token"}
    assert httpx.get(f"{bare.url}/board/stream", headers=forged).status_code == 401


PHONE = "+8613812345678"
MASKED = "+86 138****5678"


def _text_event(n: int) -> dict[str, Any]:
    return {
        "type": "nuanliu.sms.received",
        "id": f"sms{n}",
        "time": "2025-01-05T10:00:00+00:00",
        "subject": PHONE,
        "data": {"message_id": n, "phone": PHONE, "body": f"1 A{n}"},
    }


def test_a_dispatchers_board_masks_numbers_an_admins_does_not(
    bare: Served, tokens: dict[str, str], engine: Any
) -> None:
    """A dispatcher's board is often a wall screen: its snapshot and pushed events show the
    number masked; an admin's show it whole."""
    from sqlmodel import Session

    from events.outbox import stage
    from events.payloads.sms import SmsReceived

    with Session(engine) as s:
        stage(s, SmsReceived(message_id=1, phone=PHONE, body="1 A7K"))
        s.commit()
    seen: dict[str, str] = {}
    for role in ("dispatcher", "admin"):
        h = {"Authorization": f"Bearer {tokens[role]}"}
        snap = httpx.get(f"{bare.url}/board/snapshot", headers=h, timeout=20).json()
        assert [m["body"] for m in snap["sms"]] == ["1 A7K"]
        (first,) = read_events(bare.url, tokens[role], 1)
        hub = bare.runtime.services.board_hub
        hub.publish(_text_event(2))
        hub.publish({"type": "nuanliu.test", "id": "plain", "data": {"n": 1}})
        pushed = read_events(bare.url, tokens[role], 2, last_id=first["id"])
        seen[role] = str(snap) + first["data"] + "".join(e["data"] for e in pushed)
        assert '"1 A2"' in pushed[0]["data"] and '"plain"' in pushed[1]["data"]
    assert PHONE not in seen["dispatcher"] and MASKED in seen["dispatcher"]
    assert PHONE in seen["admin"] and MASKED not in seen["admin"]
