"""The dispatcher's work without the API (issue 14, item 4), in Debian's Chromium against the
whole system (uvicorn on a runtime with the relay and every consumer), in Chinese and English:
raise an alert from the form after reading its preview (the preview's numbers are what the real
alert then plans), bad input refused in words with nothing stored; close an incident with a
reason and find it in the history with its figures; approve a supply plan after reading its
lines; and the board and a report printed on A4 with nothing cut off."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.serving import Served
from coordinator.alerts.models import Alert
from coordinator.dispatch.models import Incident, Task
from tests.board.browser import ARTIFACTS, shot
from tests.board.test_browser import log_in, offered, wait_live
from tests.conftest import bearer, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ZONE = ZoneInfo("Asia/Shanghai")
#: A4 less the print stylesheet's 12 mm margins, in CSS pixels (96 per inch)
A4_CONTENT_PX = round((210 - 2 * 12) / 25.4 * 96)
WORDS = {
    "zh": {
        "nodistrict": "请至少选择一个区县。",
        "endbeforestart": "结束时间必须晚于开始时间。",
        "period": "结束时间必须晚于开始时间。",
        "too_short": "区县至少需要 1 项",
        "noreason": "请填写结束原因。",
        "kind": "寒潮",
        "level": "蓝色预警",
        "district": "白云区",
        "summary": "预案将生成",
        "stale": "请重新预览",
    },
    "en": {
        "nodistrict": "Choose at least one district.",
        "endbeforestart": "The end must be after the start.",
        "period": "The end must be after the start.",
        "too_short": "Districts needs at least 1",
        "noreason": "Write why the incident is closed.",
        "kind": "Cold wave",
        "level": "Blue warning",
        "district": "Baiyun District",
        "summary": "The playbook will create",
        "stale": "preview it again",
    },
}


def board(chromium: Any, served: Served, lang: str, width: int = 1600) -> Any:
    page = chromium.new_page(
        viewport={"width": width, "height": 1000},
        timezone_id="UTC",
        locale="zh-CN" if lang == "zh" else "en-GB",
    )
    log_in(page, served.url, "dora")
    page.wait_for_url("**/board")
    if lang == "en":
        page.evaluate("localStorage.setItem('nuanliu.lang', 'en')")
        page.reload()
    wait_live(page)
    return page


def _count(engine: Engine, model: Any) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _local(moment: datetime) -> str:
    """A datetime-local input's value for `moment` in Guiyang."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dispatcher_raises_an_alert_from_the_form_after_its_preview(
    served: Served, chromium: Any, engine: Engine, lang: str
) -> None:
    w = WORDS[lang]
    page = board(chromium, served, lang)
    page.click("#raise-alert")
    page.wait_for_selector("#alert-dialog[open]")
    page.wait_for_selector('#alert-kind option[value="cold_wave"]', state="attached")
    assert page.input_value("#alert-starts")  # filled with now, in Guiyang
    alerts, incidents = _count(engine, Alert), _count(engine, Incident)

    # no district: said in words, nothing asked of the server, nothing stored
    page.select_option("#alert-kind", "cold_wave")
    page.select_option("#alert-level", "blue")
    page.fill("#alert-headline", "寒潮蓝色预警 cold wave")
    page.click("#alert-preview-button")
    assert page.inner_text("#alert-status") == w["nodistrict"]
    assert page.is_disabled("#alert-confirm")
    # an end before the start
    page.check('#alert-districts input[value="520113"]')
    starts = (datetime.now(ZONE) + timedelta(hours=2)).replace(second=0, microsecond=0)
    page.fill("#alert-starts", _local(starts))
    page.fill("#alert-ends", _local(starts - timedelta(hours=1)))
    page.click("#alert-preview-button")
    assert page.inner_text("#alert-status") == w["endbeforestart"]
    assert page.is_disabled("#alert-confirm")
    # the server says the same in words to a body that slips past the form
    said = page.evaluate(
        """([s, e]) => NL.api('POST', '/api/alerts/preview', {kind: 'snow', level: 'red',
             districts: ['云岩区'], headline: 'x', starts_at: s, ends_at: e})
             .then(() => 'previewed?!', err => err.message)""",
        [starts.isoformat(), (starts - timedelta(hours=1)).isoformat()],
    )
    assert said == w["period"]
    said = page.evaluate(
        """() => NL.api('POST', '/api/alerts/preview', {kind: 'snow', level: 'red',
             districts: [], headline: 'x'}).then(() => 'previewed?!', err => err.message)"""
    )
    assert said.startswith(w["too_short"]), said
    assert (_count(engine, Alert), _count(engine, Incident)) == (alerts, incidents)

    # a good alert: preview, read, confirm
    page.fill("#alert-ends", _local(starts + timedelta(hours=8)))
    page.check('#alert-districts input[value="520102"]')
    page.click("#alert-preview-button")
    page.wait_for_selector("#alert-preview .n-total-slots")
    assert w["summary"] in page.inner_text("#alert-preview .summary")
    total_tasks = int(page.inner_text("#alert-preview .n-total-tasks"))
    total_slots = int(page.inner_text("#alert-preview .n-total-slots"))
    per_district = dict(
        page.eval_on_selector_all(
            "#alert-preview tr[data-district]",
            "rows => rows.map(r => [r.dataset.district, +r.querySelector('.n-slots').textContent])",
        )
    )
    # the cold-wave playbook at blue: elderly visits 12 (25 × 0.5, rounded to even) and a
    # reserve of 8 per district
    assert (total_tasks, total_slots) == (4, 40) and per_district == {"520113": 20, "520102": 20}
    # the window as entered, in Guiyang's time (the browser itself runs in UTC)
    when = starts.strftime("%Y-%m-%d %H:%M")
    assert when in page.inner_text("#alert-preview .summary")
    assert all(
        cell.startswith(when)
        for cell in page.eval_on_selector_all(
            ".preview-task td:last-child", "cells => cells.map(c => c.textContent)"
        )
    )
    shot(page, f"board-alert-preview-{lang}", full_page=False)
    # a change after the preview: confirm waits for a new preview
    page.uncheck('#alert-districts input[value="520102"]')
    assert page.is_disabled("#alert-confirm")
    assert w["stale"] in page.inner_text("#alert-status")
    page.check('#alert-districts input[value="520102"]')
    assert not page.is_disabled("#alert-confirm")
    assert (_count(engine, Alert), _count(engine, Incident)) == (alerts, incidents)

    page.click("#alert-confirm")
    page.wait_for_selector("#alert-dialog:not([open])", state="attached")
    incident_id = int(page.get_attribute("#alert-dialog", "data-raised") or 0)
    page.wait_for_selector(f'.incident[data-incident-id="{incident_id}"] .task', timeout=30_000)
    assert _count(engine, Alert) == alerts + 1

    def planned() -> list[Task] | None:
        with Session(engine) as s:
            rows = list(s.exec(select(Task).where(Task.incident_id == incident_id)).all())
        return rows if len(rows) >= total_tasks else None

    tasks = wait_for(planned, timeout=30)
    assert len(tasks) == total_tasks and sum(t.slots for t in tasks) == total_slots
    for code, slots in per_district.items():
        assert sum(t.slots for t in tasks if t.district_code == code) == slots
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None and incident.starts_at is not None
        assert incident.starts_at.astimezone(ZONE) == starts  # entered in Guiyang's time
        assert incident.ends_at is not None
        assert incident.ends_at.astimezone(ZONE) == starts + timedelta(hours=8)
    shot(page, f"board-alert-raised-{lang}")
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dispatcher_closes_an_incident_with_a_reason_and_finds_it_in_the_history(
    served: Served, chromium: Any, engine: Engine, tokens: dict[str, str], lang: str
) -> None:
    w = WORDS[lang]
    auth = bearer(tokens["dispatcher"])
    raised = httpx.post(
        f"{served.url}/api/alerts",
        headers=auth,
        json={"kind": "cold_wave", "level": "blue", "districts": ["白云区"], "headline": "寒潮"},
        timeout=30,
    ).json()
    incident_id = raised["incident_id"]
    _, code, phone = wait_for(lambda: offered(engine, incident_id), timeout=30)[0]
    httpx.post(
        f"{served.url}/api/sms/inbound",
        headers=auth,
        json={"from": phone, "body": f"1 {code}"},
        timeout=30,
    ).raise_for_status()
    page = board(chromium, served, lang)
    incident = f'.incident[data-incident-id="{incident_id}"]'
    page.wait_for_function(
        """sel => Array.from(document.querySelectorAll(sel + ' .n-accepted'))
             .some(el => +el.textContent > 0)""",
        arg=incident,
        timeout=30_000,
    )
    page.click(f'button[data-close-incident="{incident_id}"]')
    page.wait_for_selector("#close-dialog[open]")
    assert "寒潮" in page.inner_text("#close-incident-name")
    page.click("#close-confirm")  # no reason: refused in words, still open
    assert page.inner_text("#close-status") == w["noreason"]
    page.fill("#close-reason", "   ")
    page.click("#close-confirm")
    assert page.inner_text("#close-status") == w["noreason"]
    page.click("#close-cancel")  # changing one's mind closes nothing
    page.wait_for_selector("#close-dialog:not([open])", state="attached")
    with Session(engine) as s:
        row = s.get(Incident, incident_id)
        assert row is not None and row.status == "open"
    reason = "寒潮预警解除 · the cold wave is over"
    page.click(f'button[data-close-incident="{incident_id}"]')
    page.fill("#close-reason", reason)
    shot(page, f"board-close-incident-{lang}", full_page=False)
    page.click("#close-confirm")
    page.wait_for_selector(incident, state="detached", timeout=30_000)
    with Session(engine) as s:
        row = s.get(Incident, incident_id)
        assert row is not None and row.status == "closed" and row.close_reason == reason
        opened, closed = row.opened_at, row.closed_at
    assert closed is not None

    page.click('a[href="/board/incidents"]')
    line = f'tr.past-incident[data-incident-id="{incident_id}"]'
    page.wait_for_selector(line)
    figures = httpx.get(
        f"{served.url}/api/reports/incidents?status=closed", headers=auth, timeout=30
    ).json()["data"][0]
    assert figures["id"] == incident_id and figures["filled"] >= 1
    text = page.inner_text(line)
    for expected in (reason, w["kind"], w["level"], w["district"]):
        assert expected.lower() in text.lower(), (expected, text)  # badges are in capitals
    assert page.inner_text(f"{line} .n-slots") == str(figures["slots"]) == "20"
    assert page.inner_text(f"{line} .n-filled") == str(figures["filled"])
    assert page.inner_text(f"{line} .n-volunteers") == str(figures["volunteers"])
    assert page.inner_text(f"{line} .n-hours") == f"{figures['hours_served']:.1f}"
    # opened and closed in Guiyang's time, though the browser runs in UTC
    assert opened.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") in text
    assert closed.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") in text
    shot(page, f"board-history-{lang}")
    page.click(f"{line} a")
    page.wait_for_url(f"**/board/incidents/{incident_id}/report*")
    assert reason in page.inner_text("main")
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dispatcher_reads_a_plans_lines_and_cost_before_approving_it(
    served: Served, chromium: Any, tokens: dict[str, str], lang: str
) -> None:
    auth = bearer(tokens["dispatcher"])
    # sixty days' cover is more than the warehouse holds: the plan buys, and says what for
    created = httpx.post(
        f"{served.url}/api/plans", headers=auth, json={"target_days": 60}, timeout=60
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["purchase_fen"] > 0 and any(line["purchase"] for line in plan["lines"])
    items = {
        i["sku"]: i for i in httpx.get(f"{served.url}/api/items", headers=auth, timeout=30).json()
    }
    page = board(chromium, served, lang)
    row = f'[data-plan-id="{plan["id"]}"]'
    page.wait_for_selector(f"{row} .plan-line", timeout=30_000)
    shown = [line for line in plan["lines"] if line["allocate"] or line["purchase"]]
    cells = page.eval_on_selector_all(
        f"{row} tr.plan-line", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
    )
    assert len(cells) == len(shown) > 0
    for line, (station, item, send, buy, cost) in zip(shown, cells, strict=True):
        name = items[line["item"]]["name_zh" if lang == "zh" else "name_en"]
        assert item == name and line["item"] not in item
        assert send.split(" ")[0] == str(line["allocate"])
        assert ("站" in station) if lang == "zh" else station
        if line["purchase"]:
            assert buy.split(" ")[0] == str(line["purchase"])
            fen = line["purchase"] * items[line["item"]]["unit_cost_fen"]
            assert cost.replace(",", "") == f"{fen / 100:.2f}"
    total = page.inner_text(f"{row} .plan-total").replace(",", "")
    assert f"{plan['purchase_fen'] / 100:.2f}" in total
    # the button comes after the lines and the total
    assert page.evaluate(
        """sel => {
             const table = document.querySelector(sel + ' .plan-lines');
             const button = document.querySelector(sel + ' button[data-action="approve"]');
             return !!(table.compareDocumentPosition(button) & Node.DOCUMENT_POSITION_FOLLOWING);
           }""",
        row,
    )
    page.locator(row).screenshot(path=str(ARTIFACTS / f"board-plan-lines-{lang}.png"))
    page.click(f'{row} button[data-action="approve"]')
    page.wait_for_selector(row, state="detached", timeout=30_000)
    approved = httpx.get(f"{served.url}/api/plans/{plan['id']}", headers=auth, timeout=30)
    assert approved.json()["status"] == "approved"
    page.close()


CUT_OFF = """limit => {
  // every box that reaches past the page's width, or is wider than it (SVG shapes are drawn
  // inside their own svg and clipped by it: the svg is what is checked)
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el instanceof SVGElement && el.tagName.toLowerCase() !== 'svg') continue;
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.right > limit + 1 || r.left < -1 || r.width > limit + 1) {
      out.push(el.tagName + '#' + el.id + '.' + el.className + ' ' +
               Math.round(r.left) + '-' + Math.round(r.right));
    }
  }
  return {out: out, scroll: document.documentElement.scrollWidth,
          shown: Array.from(document.querySelectorAll('button, dialog[open], form, .filters'))
            .filter(el => getComputedStyle(el).display !== 'none')
            .map(el => el.outerHTML.slice(0, 60)),
          background: getComputedStyle(document.body).backgroundColor};
}"""


def _printed(page: Any, name: str) -> None:
    """`page` laid out for print on A4: nothing wider than the paper, nothing to click, white;
    the PDF and a screenshot of the print layout go to tests/artifacts/."""
    page.set_viewport_size({"width": A4_CONTENT_PX, "height": 1100})
    page.emulate_media(media="print")
    got = page.evaluate(CUT_OFF, A4_CONTENT_PX)
    assert got["out"] == [], got["out"][:10]
    assert got["scroll"] <= A4_CONTENT_PX
    assert got["shown"] == []
    assert got["background"] in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / f"{name}.pdf"), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    shot(page, name)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_board_and_a_report_print_on_a4_with_nothing_cut_off(
    served: Served, chromium: Any, engine: Engine, tokens: dict[str, str], lang: str
) -> None:
    auth = bearer(tokens["dispatcher"])
    raised = httpx.post(
        f"{served.url}/api/alerts",
        headers=auth,
        json={
            "kind": "ice_storm",
            "level": "orange",
            "districts": ["云岩区", "南明区"],
            "headline": "道路结冰橙色预警：全市主干道、桥梁、坡道路面结冰，请减少出行",
        },
        timeout=30,
    ).json()
    assert httpx.post(f"{served.url}/api/plans", headers=auth, json={}, timeout=60).is_success
    page = board(chromium, served, lang)
    page.wait_for_selector(
        f'.incident[data-incident-id="{raised["incident_id"]}"] .task', timeout=30_000
    )
    page.wait_for_selector(".plan-line", timeout=30_000)
    _printed(page, f"board-print-{lang}")
    page.emulate_media(media="screen")
    page.goto(f"{served.url}/board/incidents/{raised['incident_id']}/report?lang={lang}")
    page.wait_for_selector("table.report-table")
    _printed(page, f"report-print-{lang}")
    page.close()
