"""The demo phone at the scale of the whole roster (headless Chromium, the real app): it shows
the phones texted most recently and how many there are in all, finds anyone else by name or
number, and afterwards redraws only the phones whose texts changed, so a reply being typed
and every other phone stay as they are. Numbers are masked on a dispatcher's screen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.serving import Served, serve
from coordinator.common import mask_phone, utcnow
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from tests.board.browser import shot
from tests.board.conftest import login
from tests.board.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONES = 1_500
WALL = 200  # board.service.PHONE_WALL


@pytest.fixture
def wall(make_runtime: Any, users: Any, engine: Engine) -> Iterator[tuple[Served, list[str]]]:
    """1,500 phones with a text each, the oldest first; then the app (no consumers needed)."""
    start = utcnow() - timedelta(hours=2)
    numbers = [f"1390000{i:04d}" for i in range(PHONES)]
    rows = [
        {
            "direction": "outbound",
            "phone": number,
            "body": f"【暖流】测试短信 {i}",
            "segments": 1,
            "encoding": "UCS-2",
            "status": "sent",
            "gateway": "console",
            "kind": "info",
            "created_at": start + timedelta(seconds=i),
            "sent_at": start + timedelta(seconds=i),
            "updated_at": start + timedelta(seconds=i),
        }
        for i, number in enumerate(numbers)
    ]
    with Session(engine) as s:
        s.execute(insert(SmsMessage), rows)
        s.commit()
    served = serve(make_runtime())
    yield served, numbers
    served.stop()


def _text(engine: Engine, phone: str, body: str, direction: str = "inbound") -> None:
    now = utcnow()
    with Session(engine) as s:
        s.add(
            SmsMessage(
                direction=direction,
                phone=phone,
                body=body,
                status="received" if direction == "inbound" else "sent",
                gateway="console",
                created_at=now,
                updated_at=now,
                sent_at=None if direction == "inbound" else now,
            )
        )
        s.commit()


def test_the_wall_shows_the_latest_phones_and_redraws_only_what_changed(
    wall: tuple[Served, list[str]],
    chromium: Any,
    engine: Engine,
) -> None:
    served, numbers = wall
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    log_in(page, served.url, "dora")
    page.wait_for_url("**/board")
    page.goto(f"{served.url}/board/phone")
    page.wait_for_function(f"document.querySelectorAll('.phone').length === {WALL}")
    assert f"共 {PHONES} 部" in page.inner_text("#phone-count")
    newest = numbers[-1]
    # the most recent first; a dispatcher sees the number masked
    assert page.get_attribute(".phone", "data-phone") == newest
    top = page.inner_text(".phone .phone-top")
    assert newest not in top and mask_phone(newest) in top

    # a reply being typed on one phone, a mark on another: the next look must keep both
    typing, untouched, moved = numbers[-1], numbers[-2], numbers[-150]
    page.fill(f'.phone[data-phone="{typing}"] textarea', "1 K4")
    mark = f"""document.querySelector('.phone[data-phone="{untouched}"] .bubbles')"""
    page.evaluate(f"{mark}.dataset.mark = 'x'")
    _text(engine, moved, "到")
    page.wait_for_function(
        f"""() => document.querySelector('.phone').getAttribute('data-phone') === '{moved}'""",
        timeout=20_000,
    )
    assert page.inner_text(f'.phone[data-phone="{moved}"] .bubble.out').startswith("到")
    assert page.input_value(f'.phone[data-phone="{typing}"] textarea') == "1 K4"
    assert page.get_attribute(f'.phone[data-phone="{untouched}"] .bubbles', "data-mark") == "x"
    assert page.locator(".phone").count() == WALL  # nothing added twice

    # the oldest phone is not on the wall; a search by its number finds it
    oldest = numbers[0]
    assert page.query_selector(f'.phone[data-phone="{oldest}"]') is None
    page.fill("#phone-filter", oldest)
    page.wait_for_selector(f'.phone[data-phone="{oldest}"]', timeout=20_000)
    page.wait_for_function("document.querySelectorAll('.phone').length === 1")
    assert "共 1 部" in page.inner_text("#phone-count")

    # and by a volunteer's name
    with Session(engine) as s:
        volunteer = s.exec(select(Volunteer).order_by(Volunteer.id)).first()  # type: ignore[arg-type]
        assert volunteer is not None
        name, phone = volunteer.name, volunteer.phone
    _text(engine, phone, "【暖流】您好", direction="outbound")
    page.fill("#phone-filter", name)
    page.wait_for_selector(f'.phone[data-phone="{phone}"]', timeout=20_000)
    assert name in page.inner_text(f'.phone[data-phone="{phone}"] .phone-top')
    shot(page, "demo-phone-roster", full_page=False)

    page.click("#lang-toggle")
    page.fill("#phone-filter", "")
    page.wait_for_function(f"document.querySelectorAll('.phone').length === {WALL}")
    assert f"of {PHONES + 1}" in page.inner_text("#phone-count")
    page.click("#lang-toggle")
    page.close()


def test_the_wall_s_own_questions_are_checked(wall: tuple[Served, list[str]], engine: Engine):
    served, numbers = wall
    with httpx.Client(base_url=served.url, follow_redirects=False) as http:
        login(http, "dora")
        first = http.get("/board/phone/inboxes").json()
        assert len(first["phones"]) == WALL and first["total"] == PHONES
        later = http.get("/board/phone/inboxes", params={"since": first["cursor"]}).json()
        # only what changed in the overlap before the cursor, never the whole wall again
        assert 0 < len(later["phones"]) <= 11 and later["total"] is None
        _text(engine, numbers[3], "2")
        changed = http.get("/board/phone/inboxes", params={"since": first["cursor"]}).json()
        assert changed["phones"][0]["phone"] == numbers[3]
        assert changed["phones"][0]["messages"][-1]["body"] == "2"
        naive = http.get("/board/phone/inboxes", params={"since": "2026-12-01T00:00:00"})
        assert naive.status_code == 422 and "UTC" in naive.text
        assert http.get("/board/phone/inboxes", params={"since": "yesterday"}).status_code == 422
        assert http.get("/board/phone/inboxes", params={"q": "x" * 65}).status_code == 422
