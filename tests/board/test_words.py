"""The board in Chinese says things in words (headless Chromium, the whole system): warning
levels as 橙色预警, items and stations by name, feed lines as sentences with the volunteer's
name, a plan's lines before it is approved, and an API refusal in words, not pydantic's
`volunteer_id: Input should be a valid integer`. English mode says the same in English."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from bench.serving import Served
from tests.board.browser import shot
from tests.board.test_browser import log_in, offered, wait_live
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_board_says_levels_items_and_events_in_words(
    served: Served,
    chromium: Any,
    engine: Engine,
    tokens: dict[str, str],
) -> None:
    auth = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    log_in(page, served.url, "dora")
    wait_live(page)
    alert = httpx.post(
        f"{served.url}/api/alerts",
        headers=auth,
        json={
            "kind": "ice_storm",
            "level": "orange",
            "districts": ["云岩区"],
            "headline": "路面结冰",
        },
        timeout=30,
    ).json()
    incident = f'.incident[data-incident-id="{alert["incident_id"]}"]'
    page.wait_for_selector(f"{incident} .task", timeout=30_000)
    assert page.inner_text(f"{incident} .badge") == "橙色预警"

    _, code, phone = wait_for(lambda: offered(engine, alert["incident_id"]), timeout=30)[0]
    httpx.post(
        f"{served.url}/api/sms/inbound",
        headers=auth,
        json={"from": phone, "body": f"1 {code}"},
        timeout=30,
    ).raise_for_status()
    line = page.wait_for_selector("#feed li.assignment-accepted", timeout=30_000)
    sentence = line.inner_text()
    assert "接受了" in sentence and "#" not in sentence.split("接受了")[0], sentence

    # a plan's lines are there to read before approving it: station, item, amount, unit
    plan = httpx.post(f"{served.url}/api/plans", headers=auth, json={}, timeout=60)
    assert plan.status_code == 201, plan.text
    row = f'[data-plan-id="{plan.json()["id"]}"]'
    page.wait_for_selector(f"{row} .plan-line", timeout=30_000)
    lines = page.inner_text(f"{row} .plan-lines")
    assert "站" in lines and "件" in lines
    assert "FOOD-" not in lines and "DRINK-" not in lines and "MED-" not in lines

    # a refusal in words
    task_id = page.eval_on_selector(f"{incident} .task", "el => el.dataset.taskId")
    message = page.evaluate(
        """id => NL.api('POST', `/api/tasks/${id}/assign`, {volunteer_id: 'abc'})
                 .then(() => 'accepted?!', e => e.message)""",
        task_id,
    )
    assert message == "志愿者应为整数", message
    shot(page, "board-words-zh")

    page.click("#lang-toggle")
    page.wait_for_function(
        "sel => document.querySelector(sel).textContent === 'Orange warning'",
        arg=f"{incident} .badge",
    )
    assert "accepted" in page.inner_text("#feed li.assignment-accepted")
    message = page.evaluate(
        """id => NL.api('POST', `/api/tasks/${id}/assign`, {volunteer_id: 'abc'})
                 .then(() => 'accepted?!', e => e.message)""",
        task_id,
    )
    assert message == "Volunteer must be a whole number", message
    shot(page, "board-words-en")
    page.close()
