"""Times on the pages are Guiyang's (settings.timezone) even in a browser set to UTC or New
York: 16:25 UTC on 2 December shows as 00:25 on 3 December."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.serving import Served, serve
from tests.board.browser import CHROMIUM, CHROMIUM_ARGS, shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def served(make_runtime: Any) -> Iterator[Served]:
    s = serve(make_runtime(relay=False, consumers=()))
    yield s
    s.stop()


def test_clock_and_date_are_shown_in_the_settings_zone(served: Served) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for browser_zone in ("UTC", "America/New_York"):
                context = browser.new_context(timezone_id=browser_zone)
                page = context.new_page()
                page.goto(f"{served.url}/login")
                shown = page.evaluate(
                    """() => [NL.zone(), NL.clock("2026-12-02T16:25:00Z"),
                              NL.day("2026-12-02T16:25:00Z"),
                              new Date("2026-12-02T16:25:00Z").toLocaleTimeString("zh-CN",
                                                                               {hour12: false})]"""
                )
                assert shown[:3] == ["Asia/Shanghai", "00:25:00", "2026/12/3"], browser_zone
                assert shown[3] != "00:25:00"  # the browser's own zone would have said otherwise
                shot(page, f"local-time-{browser_zone.replace('/', '-')}")
                context.close()
        finally:
            browser.close()
