"""The board, the station page and the demo phone in headless Chromium, against the whole
system: uvicorn in a thread on the runtime of `make_runtime` (relay and every consumer on the
real broker). Screenshots go to tests/artifacts/ for a person to look at."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.serving import Served, serve
from consumers import CONSUMERS
from tests.board.browser import shot
from tests.board.conftest import PASSWORD
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def log_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def wait_live(page: Any, timeout: float = 30_000) -> None:
    page.wait_for_selector("#conn[data-state=live]", timeout=timeout)


def offered(engine: Engine, incident_id: int) -> list[tuple[int, str, str]]:
    """(assignment id, short code, phone) of the offers still open for an incident."""
    from coordinator.dispatch.models import Assignment
    from coordinator.volunteers.models import Volunteer

    with Session(engine) as s:
        rows = s.exec(
            select(Assignment.id, Assignment.short_code, Volunteer.phone)
            .join(Volunteer, col(Volunteer.id) == col(Assignment.volunteer_id))
            .where(Assignment.incident_id == incident_id, Assignment.status == "offered")
            .order_by(col(Assignment.id))
        ).all()
        return [(int(a), str(c), str(p)) for a, c, p in rows]


def accepted_on_board(page: Any, incident_id: int) -> int:
    return int(
        page.evaluate(
            """id => Array.from(document.querySelectorAll(
                 `.incident[data-incident-id="${id}"] .n-accepted`))
                 .reduce((n, el) => n + parseInt(el.textContent, 10), 0)""",
            incident_id,
        )
    )


def test_dispatcher_watches_tasks_fill_without_reloading(
    served: Served, chromium: Any, engine: Engine
) -> None:
    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    log_in(page, served.url, "dora")
    page.wait_for_url("**/board")
    wait_live(page)
    page.evaluate("window.__sameDocument = 'yes'")
    alert = page.evaluate(
        """() => NL.api('POST', '/api/alerts', {kind: 'ice_storm', level: 'orange',
             districts: ['云岩区'], headline: '道路结冰橙色预警 Road icing orange'})"""
    )
    incident_id = alert["incident_id"]
    page.wait_for_selector(f'.incident[data-incident-id="{incident_id}"] .task', timeout=30_000)
    offers = wait_for(lambda: offered(engine, incident_id), timeout=30)
    assert accepted_on_board(page, incident_id) == 0
    replies = offers[:3]
    for _, code, phone in replies:
        answer = page.evaluate(
            "([from, body]) => NL.api('POST', '/api/sms/inbound', {from: from, body: body})",
            [phone, f"1 {code}"],
        )
        assert answer is not None
    page.wait_for_function(
        """([id, n]) => Array.from(document.querySelectorAll(
             `.incident[data-incident-id="${id}"] .n-accepted`))
             .reduce((s, el) => s + parseInt(el.textContent, 10), 0) >= n""",
        arg=[incident_id, len(replies)],
        timeout=30_000,
    )
    assert page.evaluate("window.__sameDocument") == "yes"  # no reload happened
    page.wait_for_selector("#feed li.assignment-accepted")
    page.wait_for_selector("#map[data-state=drawn] svg path")  # test_map_browser checks it
    page.wait_for_selector("#sms li.inbound")
    page.click('#filters button[data-filter="sms"]')  # the feed's filter keeps only SMS
    kinds = page.eval_on_selector_all("#feed li", "els => els.map(e => e.classList[1])")
    assert kinds and set(kinds) == {"sms"}
    page.click('#filters button[data-filter="all"]')
    shot(page, "board-dispatcher")
    page.click("#lang-toggle")
    assert page.inner_text("#conn-text") == "Live"
    shot(page, "board-dispatcher-en")
    page.close()


def test_board_recovers_after_the_server_restarts(
    served: Served, chromium: Any, make_runtime: Any, engine: Engine
) -> None:
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    log_in(page, served.url, "dora")
    page.wait_for_url("**/board")
    wait_live(page)
    page.evaluate("window.__sameDocument = 'yes'")
    served.stop()
    served.runtime.stop()
    # a real restart is a new process; here the engine outlives the runtime, so close its
    # pooled connections as a process exit would (on PostgreSQL one of them held the relay's
    # session-level advisory lock)
    engine.dispose()
    page.wait_for_selector("#conn[data-state=stale]", timeout=30_000)
    assert "stale" in page.inner_text("#conn-text").lower() or "过时" in page.inner_text(
        "#conn-text"
    )
    shot(page, "board-stale")
    # while it is down, something happens; the restarted server must show it
    restarted = serve(make_runtime(consumers=CONSUMERS), port=served.port)
    try:
        wait_live(page, timeout=45_000)
        from tests.conftest import bearer  # noqa: F401  (the dispatcher's session is enough)

        alert = page.evaluate(
            """() => NL.api('POST', '/api/alerts', {kind: 'snow', level: 'yellow',
                 districts: ['南明区'], headline: 'after the restart'})"""
        )
        page.wait_for_selector(
            f'.incident[data-incident-id="{alert["incident_id"]}"]', timeout=30_000
        )
        assert page.evaluate("window.__sameDocument") == "yes"
        shot(page, "board-recovered")
    finally:
        restarted.stop()
    page.close()


def test_station_manager_confirms_a_short_delivery_on_a_phone(
    served: Served, chromium: Any, stations: list[int], tokens: dict[str, str]
) -> None:
    import httpx

    station = stations[0]
    warehouse = httpx.get(
        f"{served.url}/api/warehouses", headers={"Authorization": f"Bearer {tokens['dispatcher']}"}
    ).json()[0]["id"]
    created = httpx.post(
        f"{served.url}/api/shipments",
        headers={"Authorization": f"Bearer {tokens['dispatcher']}"},
        json={
            "from_id": warehouse,
            "to_id": station,
            "lines": [
                {"item": "FOOD-NOODLE", "quantity": 120},
                {"item": "DRINK-WATER", "quantity": 60},
            ],
        },
    )
    assert created.status_code == 201, created.text
    shipment = created.json()["id"]

    phone = chromium.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    log_in(page, served.url, "mia")
    page.wait_for_url(f"**/stations/{station}")
    form = f'form.receipt[data-shipment-id="{shipment}"]'
    page.wait_for_selector(form)
    # a failed submission keeps what was typed (an empty line is refused with a plain reason)
    page.fill(f'{form} input[data-sku="FOOD-NOODLE"]', "")
    page.fill(f'{form} input[data-sku="DRINK-WATER"]', "55")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#station-status.bad")
    assert "0" in page.inner_text("#station-status")
    assert page.input_value(f'{form} input[data-sku="DRINK-WATER"]') == "55"
    # one line short: 120 noodles sent, 110 received
    page.fill(f'{form} input[data-sku="FOOD-NOODLE"]', "110")
    page.fill(f'{form} input[data-sku="DRINK-WATER"]', "60")
    shot(page, "station-before-confirm-360")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#station-status.ok")
    page.wait_for_selector(form, state="detached")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing overflows
    shot(page, "station-after-confirm-360")
    # two taps hand out: the item, then the amount
    page.click('button[data-pick="FOOD-NOODLE"]')
    page.click('button[data-amount="2"]')
    page.wait_for_function(
        """() => document.querySelector('#stock tr[data-sku="FOOD-NOODLE"] b')
                 .textContent === '108'"""
    )
    assert "方便面" in page.inner_text("#station-status")  # by name, never its code
    phone.close()

    board = chromium.new_page(viewport={"width": 1600, "height": 1000})
    log_in(board, served.url, "dora")
    wait_live(board)
    board.wait_for_selector(".discrepancy.short", timeout=30_000)
    text = board.inner_text("#discrepancies")
    # in words: the kind of discrepancy and the item by name, never its code
    assert "短收" in text and "方便面" in text and "120 → 110" in text
    assert "FOOD-NOODLE" not in text
    shot(board, "board-discrepancy")
    # the dispatcher acknowledges it from the board
    board.click('.discrepancy.short button[data-action="ack"]')
    board.wait_for_selector(".discrepancy.short", state="detached", timeout=30_000)
    board.close()


def test_dispatcher_approves_a_plan_and_cancels_an_offer_from_the_board(
    served: Served, chromium: Any, engine: Engine, tokens: dict[str, str]
) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    plan = httpx.post(f"{served.url}/api/plans", headers=auth, json={}, timeout=60)
    assert plan.status_code == 201, plan.text
    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, served.url, "dora")
    wait_live(page)
    row = f'[data-plan-id="{plan.json()["id"]}"]'
    page.click(f'{row} button[data-action="approve"]', timeout=30_000)
    page.wait_for_selector(row, state="detached", timeout=30_000)
    page.wait_for_selector("#transit .row", timeout=30_000)  # its shipments are on the road
    alert = page.evaluate(
        """() => NL.api('POST', '/api/alerts', {kind: 'cold_wave', level: 'blue',
             districts: ['白云区'], headline: 'cold wave'})"""
    )
    offers = wait_for(lambda: offered(engine, alert["incident_id"]), timeout=30)
    assignment = offers[0][0]
    page.click(f'button[data-action="cancel"][data-id="{assignment}"]', timeout=30_000)
    page.wait_for_selector(
        f'button[data-action="cancel"][data-id="{assignment}"]', state="detached", timeout=30_000
    )
    page.wait_for_selector("#feed li.assignment-cancelled", timeout=30_000)
    shot(page, "board-actions")
    page.close()


def test_demo_phone_shows_inboxes_and_replies(
    served: Served, chromium: Any, engine: Engine
) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, served.url, "dora")
    wait_live(page)
    alert = page.evaluate(
        """() => NL.api('POST', '/api/alerts', {kind: 'ice_storm', level: 'red',
             districts: ['花溪区'], headline: 'Huaxi icing'})"""
    )
    offers = wait_for(lambda: offered(engine, alert["incident_id"]), timeout=30)
    _, code, number = offers[0]
    page.goto(f"{served.url}/board/phone")
    phone = f'.phone[data-phone="{number}"]'
    page.wait_for_selector(f"{phone} .bubble.in", timeout=30_000)
    page.fill("#phone-filter", number[-6:])  # find one volunteer among everyone offered
    page.wait_for_function("document.querySelectorAll('.phone').length === 1", timeout=20_000)
    page.fill(f"{phone} textarea", f"1 {code}")
    page.click(f"{phone} button[type=submit]")
    page.wait_for_selector(f"{phone} .bubble.out", timeout=30_000)
    shot(page, "demo-phone", full_page=False)
    page.close()
