"""The public verify page in Debian's Chromium, phone-sized, as a person scanning a
certificate's QR code sees it: the result, the masked name and the hours in Chinese, in
English after one click, and a forged serial's clear "not found"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.serving import Served, serve
from coordinator.common import utcnow
from coordinator.records import flows, service
from coordinator.records.service import new_serial
from tests.board.browser import CHROMIUM, CHROMIUM_ARGS, shot
from tests.records.helpers import TOLERANCE, shift, volunteer
from tests.records.helpers import serve as serve_shift

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def served(make_runtime: Any, demo: None) -> Iterator[Served]:
    s = serve(make_runtime(consumers=()))
    yield s
    s.stop()


def _issued(engine: Engine) -> str:
    """张三丰's certificate of this year (3.5 hours); its serial."""
    now = utcnow()
    with Session(engine, expire_on_commit=False) as s:
        vid = volunteer(s, "张三丰", "+8613912345678")
        serve_shift(s, shift(s), vid)
        year = (now - timedelta(hours=6)).astimezone(ZoneInfo("Asia/Shanghai")).year
        period = service.year_period(year, "Asia/Shanghai")
        lines = service.lines(session=s, period=period, tolerance=TOLERANCE, now=now)[vid]
        holder = service.holder(session=s, volunteer_id=vid)
        assert holder is not None
        got = flows.issue(
            session=s,
            holder=holder,
            period=period,
            lines=lines,
            organisation="暖流志愿服务队",
            actor="test",
            now=now,
        )
        s.commit()
        return got.certificate.serial


def test_the_verify_page_in_a_phone_browser(served: Served, engine: Engine) -> None:
    from playwright.sync_api import sync_playwright

    serial = _issued(engine)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            answer = page.goto(f"{served.url}/verify/{serial}")
            assert answer is not None and answer.status == 200
            assert page.inner_text("#verify-result").startswith("有效")
            assert page.inner_text("#verify-holder") == "张**"
            assert "3.5" in page.inner_text("#verify-hours")
            assert page.inner_text("#verify-organisation") == "暖流志愿服务队"
            assert "三丰" not in page.content() and "5678" not in page.content()
            shot(page, "verify-valid-zh")
            page.click("#lang-toggle")
            assert page.inner_text("#verify-result").startswith("Valid")
            assert "hours" in page.inner_text("#verify-hours")
            shot(page, "verify-valid-en")

            forged = page.goto(f"{served.url}/verify/{new_serial()}")
            assert forged is not None and forged.status == 404
            assert page.inner_text("#verify-result").startswith("Not found")  # still English
            page.click("#lang-toggle")
            assert page.inner_text("#verify-result").startswith("未找到")
            shot(page, "verify-forged-zh")
        finally:
            browser.close()
