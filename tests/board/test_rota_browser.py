"""The rota page in headless Chromium against the whole system (issue 15, item 7): a volunteer
asks for a code, reads it off the phone (the console gateway's record of what it received),
signs in, picks a travel-rush shift, and gives it back more than 24 h ahead, upon which the
dispatch consumer offers the slot to another volunteer; a shift inside 24 h shows no button
and the API refuses it with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.serving import Served, serve
from consumers import CONSUMERS
from coordinator.common import utcnow
from coordinator.config import Settings
from coordinator.dispatch.flows import rota
from coordinator.dispatch.models import Assignment, Incident, Task
from coordinator.volunteers.models import Volunteer
from tests.board.browser import CHROMIUM, CHROMIUM_ARGS, shot
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The phones' inbox: every text the console gateway sends, one JSON line each."""
    return settings.model_copy(update={"console_sms_file": tmp_path / "phones.jsonl"})


@pytest.fixture
def served(make_runtime: Any, demo: None) -> Iterator[Served]:
    s = serve(make_runtime(consumers=CONSUMERS))
    yield s
    s.stop()


def _inbox(settings: Settings, phone: str) -> list[str]:
    path = settings.console_sms_file
    assert path is not None
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [e["body"] for e in lines if e["to"] == phone]


def _code(settings: Settings, phone: str) -> str | None:
    for body in reversed(_inbox(settings, phone)):
        if "排班登录验证码" in body:
            return body.split("：", 1)[1][:6]
    return None


def test_a_volunteer_picks_and_gives_back_a_shift_on_the_phone_page(
    served: Served, engine: Engine, settings: Settings
) -> None:
    from playwright.sync_api import sync_playwright

    first = datetime.now(ZONE).date() + timedelta(days=3)
    with Session(engine, expire_on_commit=False) as s:
        rush = Incident(kind="travel_rush", level="orange", title="春运", districts=["520103"])
        s.add(rush)
        s.flush()
        tasks = rota.publish(session=s, incident=rush, first=first, last=first, settings=settings)
        me = s.exec(
            select(Volunteer).where(Volunteer.language == "zh").order_by(col(Volunteer.id))
        ).first()
        assert me is not None
        s.commit()
    target = sorted(tasks, key=lambda t: (t.starts_at, t.id))[0]
    local = me.phone.removeprefix("+86")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 400, "height": 860})  # a phone
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{served.url}/rota")
        assert page.inner_text("h1") == "春运服务站排班"
        page.fill("#rota-phone", f"{local[:3]} {local[3:7]} {local[7:]}")
        page.click("#rota-send")
        page.wait_for_selector("#rota-code-form:not([hidden])")
        code = wait_for(lambda: _code(settings, me.phone), timeout=30)
        page.fill("#rota-code", "000000" if code != "000000" else "111111")
        page.click("#rota-verify")
        page.wait_for_function(
            "document.getElementById('rota-msg').textContent.includes('验证码错误')"
        )
        page.fill("#rota-code", code)
        page.click("#rota-verify")
        page.wait_for_selector(f'button.pick[data-task="{target.id}"]', timeout=30_000)
        shot(page, "rota-signed-in")
        page.click(f'button.pick[data-task="{target.id}"]')
        page.wait_for_selector(f'#rota-mine li[data-task="{target.id}"] button.give-back')

        def held() -> Assignment | None:
            with Session(engine) as s:
                return s.exec(
                    select(Assignment).where(
                        Assignment.task_id == target.id,
                        Assignment.volunteer_id == me.id,
                        Assignment.status == "accepted",
                    )
                ).first()

        mine = wait_for(held)
        assert mine.source == "rota"
        assert mine.short_code in page.inner_text("#rota-mine")
        # the confirmation reaches the phone, with the code that `到`/`退` take
        wait_for(
            lambda: any(mine.short_code in b and "已确认" in b for b in _inbox(settings, me.phone))
        )
        shot(page, "rota-picked")
        page.click(f'#rota-mine li[data-task="{target.id}"] button.give-back')
        page.wait_for_function("document.getElementById('rota-msg').textContent.includes('已退班')")

        def refilled() -> Assignment | None:
            with Session(engine) as s:
                return s.exec(
                    select(Assignment).where(
                        Assignment.task_id == target.id,
                        Assignment.slot == mine.slot,
                        Assignment.status == "offered",
                        Assignment.source == "refill",
                    )
                ).first()

        offer = wait_for(refilled, timeout=30)
        assert offer.volunteer_id != me.id
        with Session(engine) as s:
            assert s.get(Assignment, mine.id).status == "cancelled"  # type: ignore[union-attr]
        # inside 24 h: no button on the page, and the API refuses with the reason
        other = sorted(tasks, key=lambda t: (t.starts_at, t.id))[-1]
        page.click(f'button.pick[data-task="{other.id}"]')
        page.wait_for_selector(f'#rota-mine li[data-task="{other.id}"] button.give-back')
        with Session(engine) as s:
            task = s.get(Task, other.id)
            assert task is not None
            task.starts_at = utcnow() + timedelta(hours=6)
            task.ends_at = task.starts_at + timedelta(hours=8)
            s.add(task)
            s.commit()
        page.reload()
        row = f'#rota-mine li[data-task="{other.id}"]'
        page.wait_for_selector(row)
        assert page.query_selector(f"{row} button.give-back") is None
        assert "24小时内开始" in page.inner_text(row)
        shot(page, "rota-too-late")
        late = held_of(engine, other.id or 0, me.id or 0)
        assert late is not None
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        csrf = page.get_attribute('meta[name="csrf-token"]', "content") or ""
        r = httpx.post(
            f"{served.url}/api/rota/assignments/{late.id}/give-back",
            cookies=cookies,
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 409 and r.json()["code"] == "give_back_too_late", r.text
        assert "24 h" in r.json()["detail"]
        # English too
        page.click("#lang-toggle")
        assert "within 24 h" in page.inner_text(row)
        browser.close()


def held_of(engine: Engine, task_id: int, volunteer_id: int) -> Assignment | None:
    with Session(engine) as s:
        return s.exec(
            select(Assignment).where(
                Assignment.task_id == task_id,
                Assignment.volunteer_id == volunteer_id,
                Assignment.status == "accepted",
            )
        ).first()
