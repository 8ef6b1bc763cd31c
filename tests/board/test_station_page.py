"""The station manager's page on a 360-px phone (headless Chromium, the whole system): a
shipment dispatched to the station appears without a reload; a count far from what was sent
asks 确定吗 first (and is not sent if the manager says no); the one correction within the hour
is on the page; a hand-out takes an amount typed by hand and can be taken back within a minute,
in Chinese and in English."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.serving import Served
from coordinator.logistics.models import Shipment
from tests.board.browser import shot
from tests.board.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _ship(url: str, token: str, station: int, lines: list[dict[str, Any]]) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    warehouse = httpx.get(f"{url}/api/warehouses", headers=auth).json()[0]["id"]
    r = httpx.post(
        f"{url}/api/shipments",
        headers=auth,
        json={"from_id": warehouse, "to_id": station, "lines": lines},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _shipment(engine: Engine, shipment_id: int) -> Shipment:
    with Session(engine) as s:
        found = s.get(Shipment, shipment_id)
        assert found is not None
        return found


def test_a_manager_sees_a_new_shipment_is_asked_about_a_slip_and_corrects_once(
    served: Served,
    chromium: Any,
    engine: Engine,
    stations: list[int],
    tokens: dict[str, str],
) -> None:
    station = stations[0]
    context = chromium.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    questions: list[str] = []
    answer = {"yes": False}

    def on_dialog(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept() if answer["yes"] else dialog.dismiss()

    page.on("dialog", on_dialog)
    log_in(page, served.url, "mia")
    page.wait_for_url(f"**/stations/{station}")
    page.wait_for_selector("#stock tr")

    # dispatched while the page is open: it appears by itself
    shipment = _ship(
        served.url, tokens["dispatcher"], station, [{"item": "FOOD-CAKE", "quantity": 33}]
    )
    form = f'form.receipt[data-shipment-id="{shipment}"]'
    page.wait_for_selector(form, timeout=20_000)

    # 330 where 33 were sent: asked first; "no" sends nothing and keeps the number typed
    page.fill(f'{form} input[data-sku="FOOD-CAKE"]', "330")
    page.click(f"{form} button[type=submit]")
    assert questions and questions[0].startswith("确定吗")
    assert "330" in questions[0]
    assert _shipment(engine, shipment).status == "in_transit"
    assert page.input_value(f'{form} input[data-sku="FOOD-CAKE"]') == "330"

    # the real count, then a correction within the hour
    page.fill(f'{form} input[data-sku="FOOD-CAKE"]', "30")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(form, state="detached", timeout=20_000)
    assert len(questions) == 1  # 30 of 33 is nothing to ask about
    assert _shipment(engine, shipment).status == "received"
    fix = f'button[data-correct="{shipment}"]'
    page.click(fix, timeout=20_000)
    correction = f'form.correction[data-shipment-id="{shipment}"]'
    page.fill(f'{correction} input[data-sku="FOOD-CAKE"]', "33")
    shot(page, "station-correction-360")
    page.click(f"{correction} button[type=submit]")
    page.wait_for_selector("#station-status.ok", timeout=20_000)
    page.wait_for_selector(fix, state="detached", timeout=20_000)  # one correction only
    assert _shipment(engine, shipment).corrected_at is not None
    assert "已更正" in page.inner_text(f'li[data-received="{shipment}"]')

    # a hand-out of an amount typed by hand
    before = int(page.inner_text('#stock tr[data-sku="FOOD-CAKE"] b'))
    page.click('button[data-pick="FOOD-CAKE"]')
    page.fill("#handout-custom", "7")
    page.click('button[data-amount="custom"]')
    page.wait_for_function(
        f"""() => document.querySelector('#stock tr[data-sku="FOOD-CAKE"] b')
                 .textContent === '{before - 7}'""",
        timeout=20_000,
    )
    assert "蛋糕" in page.inner_text("#station-status")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "station-after-handout-360")

    # the wrong amount: taken back within the minute, once
    undo = "#recent button[data-undo]"
    page.wait_for_selector(undo, timeout=20_000)
    assert page.inner_text(undo) == "撤销"
    handout = page.get_attribute(undo, "data-undo")
    page.click(undo)
    page.wait_for_function(
        f"""() => document.querySelector('#stock tr[data-sku="FOOD-CAKE"] b')
                 .textContent === '{before}'""",
        timeout=20_000,
    )
    line = f'#recent li[data-handout="{handout}"]'
    assert "已撤销" in page.inner_text(line)
    assert page.query_selector(f"{line} button[data-undo]") is None
    assert "已撤销发放" in page.inner_text("#station-status")
    shot(page, "station-handout-undone-360")

    # the same in English
    page.click("#lang-toggle")
    page.click('button[data-pick="FOOD-CAKE"]')
    page.click('button[data-amount="2"]')
    page.wait_for_selector(f"{undo}:not([data-undo='{handout}'])", timeout=20_000)
    assert page.inner_text(undo) == "Undo"
    page.click(undo)
    page.wait_for_function(
        f"""() => document.querySelector('#stock tr[data-sku="FOOD-CAKE"] b')
                 .textContent === '{before}'""",
        timeout=20_000,
    )
    assert "Taken back" in page.inner_text("#station-status")
    assert "undone" in page.inner_text("#recent")
    shot(page, "station-handout-undone-360-en")
    page.click("#lang-toggle")  # leave the next test the default language
    context.close()
