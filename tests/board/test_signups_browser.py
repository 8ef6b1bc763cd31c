"""Issue 15 in headless Chromium against the whole system: the approval queue on the board
(people text `报名` through the inbound SMS API, the dispatch consumer queues them, the board
lists them with phones masked, a dispatcher approves one and declines the other) and the
station page's check-in and check-out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.serving import Served, serve
from consumers import CONSUMERS
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from tests.board.browser import CHROMIUM, CHROMIUM_ARGS, shot
from tests.board.test_browser import log_in, wait_live
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

FIRST, SECOND = "+8613900008801", "+8613900008802"


@pytest.fixture
def served(make_runtime: Any, users: Any) -> Iterator[Served]:
    s = serve(make_runtime(consumers=CONSUMERS))
    yield s
    s.stop()


def _volunteer(engine: Engine, phone: str) -> Volunteer | None:
    with Session(engine) as s:
        return s.exec(select(Volunteer).where(Volunteer.phone == phone)).first()


def _kinds(engine: Engine, phone: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(SmsMessage.kind)
                .where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
                .order_by(col(SmsMessage.id))
            ).all()
        )


def test_dispatcher_approves_and_declines_signups_from_the_board(
    served: Served, engine: Engine, tokens: dict[str, str]
) -> None:
    from playwright.sync_api import sync_playwright

    auth = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    for phone, text in ((FIRST, "报名 张三 云岩区 急救"), (SECOND, "报名：李四，南明区")):
        r = httpx.post(
            f"{served.url}/api/sms/inbound", headers=auth, json={"from": phone, "body": text}
        )
        assert r.status_code == 201, r.text
    first = wait_for(lambda: _volunteer(engine, FIRST), timeout=30)
    second = wait_for(lambda: _volunteer(engine, SECOND), timeout=30)
    assert first.status == second.status == "pending"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, served.url, "dora")
        wait_live(page)
        row1 = f'.signup[data-volunteer-id="{first.id}"]'
        row2 = f'.signup[data-volunteer-id="{second.id}"]'
        page.wait_for_selector(row1, timeout=30_000)
        text = page.inner_text(row1)
        assert "张三" in text and "云岩区" in text and "first_aid" in text
        assert "+86 139****8801" in text and FIRST not in text  # masked on the board
        assert page.inner_text("#signup-count") == "(2)"
        shot(page, "board-signups")
        page.click(f'{row1} button[data-action="approve-volunteer"]')
        page.wait_for_selector(row1, state="detached", timeout=30_000)
        page.click(f'{row2} button[data-action="decline-volunteer"]')
        page.wait_for_selector(row2, state="detached", timeout=30_000)
        page.wait_for_selector("#signups p.muted", timeout=30_000)  # the queue is empty
        browser.close()
    assert (_volunteer(engine, FIRST) or first).status == "active"
    assert (_volunteer(engine, SECOND) or second).status == "declined"
    assert _kinds(engine, FIRST) == ["signup_received", "signup_approved"]
    assert _kinds(engine, SECOND) == ["signup_received", "signup_declined"]


def test_station_manager_checks_a_volunteer_in_and_out_on_the_station_page(
    served: Served, engine: Engine, stations: list[int]
) -> None:
    """Issue 15, item 2: a volunteer without a phone at hand, checked in and out by the
    station manager from the phone-sized station page."""
    from playwright.sync_api import sync_playwright

    from coordinator.common import utcnow
    from coordinator.dispatch.models import Assignment, ServiceRecord
    from coordinator.logistics.models import Place
    from tests.dispatch.helpers import add_assignment, add_task

    with Session(engine) as s:
        station = s.get(Place, stations[0])
        v = s.exec(select(Volunteer).where(Volunteer.status == "active")).first()
        assert station is not None and v is not None
        task = add_task(
            s,
            now=utcnow(),
            starts_in=-timedelta(minutes=20),
            plan_key=f"station:{station.code}:2026-12-04:08:00",
            kind="station_shift",
            title="返乡服务站值守",
        )
        aid = add_assignment(s, task, v.id, status="accepted", code="K4F").id
        name, station_id = v.name, station.id
        s.commit()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        phone = browser.new_context(
            viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
        )
        page = phone.new_page()
        log_in(page, served.url, "mia")
        page.wait_for_url(f"**/stations/{station_id}")
        row = f'.attendee[data-assignment-id="{aid}"]'
        page.wait_for_selector(row, timeout=30_000)
        assert name in page.inner_text(row) and "未签到" in page.inner_text(row)
        page.click(f'{row} button[data-check="check-in"]')
        page.wait_for_selector(f'{row} button[data-check="check-out"]', timeout=30_000)
        assert "已签到" in page.inner_text(row)
        shot(page, "station-check-in", full_page=False)
        page.click(f'{row} button[data-check="check-out"]')
        page.wait_for_function(
            f"document.querySelector('{row}').textContent.includes('已签退')", timeout=30_000
        )
        browser.close()
    with Session(engine) as s:
        kinds = [
            (r.kind, r.actor)
            for r in s.exec(
                select(ServiceRecord)
                .where(ServiceRecord.assignment_id == aid)
                .order_by(col(ServiceRecord.id))
            )
        ]
        assert kinds == [("check_in", "station_manager:mia"), ("check_out", "station_manager:mia")]
        assert s.get(Assignment, aid).status == "completed"  # type: ignore[union-attr]
