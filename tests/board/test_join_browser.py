"""Issue 15, item 1 in headless Chromium against the whole system: a person signs up on the
public page from a phone, in Chinese and in English, with the code the console SMS gateway
recorded (what the phone received); the dispatcher approves them on the board and the person
is told by SMS. A dispatcher prints a station's poster, and its QR code, decoded from the
rendered page with zxing-cpp, opens the sign-up page with the station's district chosen."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.serving import Served, serve
from consumers import CONSUMERS
from coordinator.config import Settings
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from tests.board.browser import CHROMIUM, CHROMIUM_ARGS, shot
from tests.board.test_browser import log_in, wait_live
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PUBLIC = "https://nuanliu.example.org"
YUNYAN = "520103"


@pytest.fixture
def inbox(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "phones.jsonl"
    settings.console_sms_file = path
    settings.public_base_url = PUBLIC
    return path


@pytest.fixture
def served(make_runtime: Any, users: Any, inbox: Path) -> Iterator[Served]:
    s = serve(make_runtime(consumers=CONSUMERS))
    yield s
    s.stop()


def _received(inbox: Path, phone: str) -> list[str]:
    """What the phone received, in order (the console gateway's record)."""
    if not inbox.exists():
        return []
    lines = [json.loads(line) for line in inbox.read_text("utf-8").splitlines() if line.strip()]
    return [entry["body"] for entry in lines if entry["to"] == phone]


def _text(inbox: Path, phone: str, needle: str) -> str | None:
    return next((b for b in _received(inbox, phone) if needle in b), None)


def _code(inbox: Path, phone: str, needle: str) -> str:
    body = wait_for(lambda: _text(inbox, phone, needle), timeout=30)
    found = re.search(r"\d{6}", body)
    assert found, body
    return found.group()


def _person(engine: Engine, phone: str) -> Volunteer | None:
    with Session(engine) as s:
        return s.exec(select(Volunteer).where(Volunteer.phone == phone)).first()


def _phone(browser: Any) -> Any:
    return browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )


def test_signing_up_in_chinese_and_being_approved_on_the_board(
    served: Served, engine: Engine, inbox: Path
) -> None:
    from playwright.sync_api import sync_playwright

    phone = "+8613900008801"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = _phone(browser).new_page()
        page.goto(f"{served.url}/join?district={YUNYAN}")
        assert page.input_value("#join-district") == YUNYAN  # the poster's district
        assert page.inner_text("h1") == "加入暖流志愿者"
        page.fill("#join-name", "张三")
        page.fill("#join-phone", "１３９ ００００ ８８０１")  # full-width, as a phone's IME types
        page.check("input[name=skills][value=first_aid]")
        shot(page, "join-form-zh", full_page=False)
        page.click("#join-send")
        page.wait_for_selector("#join-code")
        assert "+86 139****8801" in page.inner_text("#join-notice")
        assert page.is_disabled("#join-resend")  # no second code within the minute
        code = _code(inbox, phone, "验证码")
        assert _person(engine, phone) is None
        page.fill("#join-code", code)
        page.click("#join-submit")
        page.wait_for_selector("#join-done")
        assert "报名已提交" in page.inner_text("#join-done")
        shot(page, "join-done-zh", full_page=False)
        person = _person(engine, phone)
        assert person is not None and (person.status, person.source) == ("pending", "web")
        board = browser.new_page(viewport={"width": 1600, "height": 1200})
        board.on("dialog", lambda dialog: dialog.accept())
        log_in(board, served.url, "dora")
        wait_live(board)
        row = f'.signup[data-volunteer-id="{person.id}"]'
        board.wait_for_selector(row, timeout=30_000)
        assert "张三" in board.inner_text(row) and "first_aid" in board.inner_text(row)
        # handed over, the code is kept in the SMS log (and shown on the board) no more
        assert code not in board.inner_text("body")
        with Session(engine) as s:
            logged = s.exec(
                select(SmsMessage).where(SmsMessage.phone == phone, SmsMessage.kind == "join_code")
            ).one()
            assert code not in logged.body and "******" in logged.body
            assert logged.params == {"code": "******", "minutes": "10"}
        board.click(f'{row} button[data-action="approve-volunteer"]')
        board.wait_for_selector(row, state="detached", timeout=30_000)
        browser.close()
    approved = wait_for(lambda: _text(inbox, phone, "报名已通过"), timeout=30)
    assert approved.startswith("【暖流】张三，报名已通过")
    assert (_person(engine, phone) or person).status == "active"


def test_signing_up_in_english_with_a_wrong_code_first(
    served: Served, engine: Engine, inbox: Path, tokens: dict[str, str]
) -> None:
    from playwright.sync_api import sync_playwright

    phone = "+8613900008802"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = _phone(browser).new_page()
        page.goto(f"{served.url}/join")
        page.click("#lang-toggle")
        assert page.inner_text("h1") == "Join Nuanliu's volunteers"
        assert "Mobile number" in page.inner_text("#join-form")
        page.fill("#join-name", "Li Si")
        page.fill("#join-phone", "139-0000-8802")
        page.select_option("#join-district", YUNYAN)
        page.click("#join-send")
        page.wait_for_selector("#join-code")
        assert "A code was texted to +86 139****8802" in page.inner_text("#join-notice")
        code = _code(inbox, phone, "sign-up code")
        assert _text(inbox, phone, "sign-up code").startswith(  # type: ignore[union-attr]
            "Nuanliu: your Nuanliu sign-up code is"
        )
        page.fill("#join-code", "000000" if code != "000000" else "111111")
        page.click("#join-submit")
        page.wait_for_selector("#join-error")
        assert page.inner_text("#join-error") == "Wrong code; 4 tries left"
        assert page.input_value("#join-name") == "Li Si"  # the form is kept
        shot(page, "join-wrong-code-en", full_page=False)
        page.fill("#join-code", code)
        page.click("#join-submit")
        page.wait_for_selector("#join-done")
        assert "your sign-up is in" in page.inner_text("#join-done")
        browser.close()
    person = _person(engine, phone)
    assert person is not None and (person.status, person.language) == ("pending", "en")
    r = httpx.post(
        f"{served.url}/api/volunteers/{person.id}/approve",
        headers={"Authorization": f"Bearer {tokens['dispatcher']}"},
        json={},
    )
    assert r.status_code == 200, r.text
    told = wait_for(lambda: _text(inbox, phone, "you are approved"), timeout=30)
    assert told.startswith("Nuanliu: Li Si, you are approved")


def test_a_station_poster_decodes_to_the_join_page_with_its_district(
    served: Served, engine: Engine, stations: list[int]
) -> None:
    import zxingcpp
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from coordinator.logistics.models import Place

    with Session(engine) as s:
        station = s.get(Place, stations[0])
        assert station is not None
        name, district = station.name_zh, station.district_code
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 1300})
        log_in(page, served.url, "dora")
        page.wait_for_url("**/board")
        page.click("#nav-posters")  # the board links to the list of posters
        link = page.locator(f'a[href="/board/posters/station/{stations[0]}"]')
        assert name in link.inner_text()
        page.goto(served.url + str(link.get_attribute("href")))
        assert name in page.inner_text("#poster-place")
        shot(page, "poster-station")
        png = page.locator("#qr").screenshot()
        pdf = page.pdf(format="A4", print_background=True)
        [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        assert found.text == f"{PUBLIC}/join?station={stations[0]}"
        assert page.inner_text("#poster-url") == found.text  # printed under the QR too
        # the code on the page leads to the form with the station's district chosen
        form = _phone(browser).new_page()
        form.goto(found.text.replace(PUBLIC, served.url))
        assert form.input_value("#join-district") == district
        browser.close()
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as printed:
        assert len(printed.pages) == 1  # one A4 sheet
        assert round(printed.pages[0].width / 72 * 25.4) == 210
        assert name in (printed.pages[0].extract_text() or "")
