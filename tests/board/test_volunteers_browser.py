"""The dispatcher's roster work without the API (issue 14), in headless Chromium against the
whole system, in Chinese and in English: find a volunteer by name, phone, district and skill;
edit one; opt them out and back in; import a file with bad rows (each listed with its row
number and reason; the good rows stored, nothing twice); download the exports (parsed: the
headers are Chinese in Chinese mode); assign a volunteer to a task by typing their name."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.serving import Served
from coordinator.dispatch.models import Assignment
from coordinator.volunteers.models import Volunteer
from tests.board.browser import shot
from tests.board.test_browser import log_in, wait_live
from tests.conftest import wait_for
from tests.dispatch.helpers import SMALL_PLAYBOOK

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LANGS = ["zh", "en"]


def _page(chromium: Any, served: Served, lang: str, **kwargs: Any) -> Any:
    """A dispatcher's page in `lang` (the language the toggle remembers)."""
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, **kwargs)
    context.add_init_script(f"localStorage.setItem('nuanliu.lang', '{lang}')")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, served.url, "dora")
    page.wait_for_url("**/board")
    return page


def _add(served: Served, token: str, **body: Any) -> int:
    r = httpx.post(
        f"{served.url}/api/volunteers",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _volunteer(engine: Engine, volunteer_id: int) -> Volunteer:
    with Session(engine) as s:
        v = s.get(Volunteer, volunteer_id)
        assert v is not None
        return v


def _names_shown(page: Any) -> list[str]:
    return [n.strip() for n in page.locator("#roster tbody td.name").all_inner_texts()]


def _search(page: Any, q: str = "", district: str = "", skill: str = "") -> None:
    """Type and choose as a person does; wait until the table shows that search's answer
    (the page marks the table with the query it shows)."""
    page.select_option("#f-district", district)
    page.select_option("#f-skill", skill)
    page.fill("#q", q)
    wanted = {"offset": 0, "limit": 20, "q": q, "district": district, "skill": skill}
    query = urlencode({k: v for k, v in wanted.items() if v != ""})
    page.wait_for_selector(f"#roster[data-query='{query}']")


@pytest.mark.parametrize("lang", LANGS)
def test_find_edit_opt_out_and_back_in(
    served: Served, chromium: Any, engine: Engine, tokens: dict[str, str], lang: str
) -> None:
    token = tokens["dispatcher"]
    zhang = _add(
        served, token, name="测试张三", phone="13900007701", district="云岩区", skills=["急救"]
    )
    li = _add(
        served, token, name="测试李四", phone="13900007702", district="南明区", skills=["除冰"]
    )
    page = _page(chromium, served, lang)
    page.click("#nav-volunteers")
    page.wait_for_url("**/board/volunteers")
    page.wait_for_selector("#roster tbody tr[data-volunteer-id]")
    en = lang == "en"
    assert page.inner_text("h1") == ("Volunteers" if en else "志愿者名册")

    _search(page, q="测试张三")
    assert _names_shown(page) == ["测试张三"]
    row = page.locator(f'tr[data-volunteer-id="{zhang}"]')
    assert row.locator("td.tel").inner_text() == "+86 139****7701"  # masked for a dispatcher
    assert "13900007701" not in page.content()
    assert row.locator("td.district").inner_text() == ("Yunyan District" if en else "云岩区")
    assert row.locator("td.skills").inner_text() == ("first aid" if en else "急救")
    _search(page, q="139 0000 7702")  # by phone, as people write it
    assert _names_shown(page) == ["测试李四"]
    _search(page, q="测试", district="520102")  # 南明区
    assert _names_shown(page) == ["测试李四"]
    _search(page, q="测试", skill="first_aid")
    assert _names_shown(page) == ["测试张三"]
    shot(page, f"volunteers-search-{lang}")

    # edit: a bad phone is refused in words and changes nothing; then a good edit is stored
    page.click(f'tr[data-volunteer-id="{zhang}"] button[data-act="edit"]')
    page.wait_for_selector("#editor-card:not([hidden])")
    page.fill("#e-phone", "0851-86812345")
    page.click("#e-save")
    error = page.locator("#editor-error")
    error.wait_for(state="visible")
    if en:
        assert (
            error.inner_text().startswith("Phone: ") and "not a mobile number" in error.inner_text()
        )
    else:
        assert error.inner_text().startswith("手机号：") and "不是手机号" in error.inner_text()
    assert _volunteer(engine, zhang).phone == "+8613900007701"
    page.fill("#e-phone", "")
    page.fill("#e-name", "测试张三丰")
    page.select_option("#e-district", "520111")  # 花溪区
    page.check('input[name="e-skill"][value="de_icing"]')
    shot(page, f"volunteers-edit-{lang}")
    page.click("#e-save")
    page.wait_for_selector("#editor-card", state="hidden")
    edited = wait_for(lambda: (v := _volunteer(engine, zhang)).name == "测试张三丰" and v)
    assert edited.district_code == "520111" and set(edited.skills) == {"first_aid", "de_icing"}
    assert edited.phone == "+8613900007701"  # left empty: kept
    page.wait_for_selector(f'tr[data-volunteer-id="{zhang}"] td.name:text-is("测试张三丰")')

    # opt out (the page asks first) and back in
    page.click(f'tr[data-volunteer-id="{zhang}"] button[data-act="opt-out"]')
    page.wait_for_selector(f'tr[data-volunteer-id="{zhang}"].opted-out')
    assert _volunteer(engine, zhang).opted_out
    state = page.inner_text(f'tr[data-volunteer-id="{zhang}"] td.state')
    assert ("opted out" if en else "已退订") in state
    shot(page, f"volunteers-opted-out-{lang}")
    page.click(f'tr[data-volunteer-id="{zhang}"] button[data-act="opt-in"]')
    page.wait_for_selector(f'tr[data-volunteer-id="{zhang}"]:not(.opted-out)')
    assert not _volunteer(engine, zhang).opted_out
    assert not _volunteer(engine, li).opted_out
    page.context.close()


BAD_FILE = (
    "姓名,手机号,区县,技能\n"
    "导入甲,13900007711,云岩区,除冰\n"  # row 2: good
    "导入乙,0851-86812345,南明区,\n"  # row 3: a landline
    "导入丙,13900007713,火星区,\n"  # row 4: no such district
    ",13900007714,云岩区,\n"  # row 5: no name
    "导入丁,139 0000 7711,南明区,\n"  # row 6: repeats row 2
    "导入戊,13900007716,观山湖区,急救\n"  # row 7: good
)


def _imported(engine: Engine) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(Volunteer.name)
            .where(col(Volunteer.name).startswith("导入"))
            .order_by(col(Volunteer.id))
        ).all()
        return list(rows)


@pytest.mark.parametrize("lang", LANGS)
def test_import_lists_every_rejected_row_with_its_reason(
    served: Served, chromium: Any, engine: Engine, tmp_path: Path, lang: str
) -> None:
    sheet = tmp_path / "roster.csv"
    sheet.write_text(BAD_FILE, encoding="utf-8")
    page = _page(chromium, served, lang)
    page.goto(f"{served.url}/board/volunteers")
    page.set_input_files("#import-file", str(sheet))
    page.click('#import button[type="submit"]')
    page.wait_for_selector("#import-errors")
    en = lang == "en"
    summary = page.inner_text("#import-summary")
    assert summary == (
        "6 rows read: 2 imported, 4 rejected." if en else "读取 6 行：导入 2 行，拒绝 4 行。"
    )
    rows = {
        int(r.get_attribute("data-row")): r.inner_text()
        for r in page.locator("#import-errors tbody tr").all()
    }
    assert sorted(rows) == [3, 4, 5, 6]
    if en:
        assert "not a mobile number" in rows[3] and "unknown district" in rows[4]
        assert "Name" in rows[5] and "is required" in rows[5] and "repeats row 2" in rows[6]
    else:
        assert "不是手机号" in rows[3] and "火星区" in rows[4]
        assert "姓名" in rows[5] and "不能为空" in rows[5] and "与第 2 行重复" in rows[6]
    assert "0851" not in page.inner_text("#import-errors")  # numbers masked on screen
    shot(page, f"volunteers-import-{lang}")
    assert _imported(engine) == ["导入甲", "导入戊"]
    # the same file again: every good row is on the roster already; nothing is stored twice
    page.set_input_files("#import-file", str(sheet))
    page.click('#import button[type="submit"]')
    page.wait_for_selector("#import-errors tbody tr[data-row='7']")
    assert page.locator("#import-errors tbody tr").count() == 6
    assert _imported(engine) == ["导入甲", "导入戊"]
    # a file that is not a roster at all is refused as a whole, in words
    bad = tmp_path / "notes.csv"
    bad.write_text("hello,world\n1,2\n", encoding="utf-8")
    page.set_input_files("#import-file", str(bad))
    page.click('#import button[type="submit"]')
    refusal = page.locator("#import-result p.error")
    refusal.wait_for()
    assert refusal.inner_text().startswith(
        "The file cannot be imported: missing column(s): name, phone"
        if en
        else "文件无法导入：缺少列：姓名、手机号"
    )
    page.context.close()


def _sheet_rows(path: str) -> list[list[Any]]:
    book = load_workbook(path)
    sheet = book.active
    assert sheet is not None
    return [[c.value for c in row] for row in sheet.iter_rows()]


@pytest.mark.parametrize("lang", LANGS)
def test_exports_download_with_headers_in_words(
    served: Served, chromium: Any, tokens: dict[str, str], tmp_path: Path, lang: str
) -> None:
    _add(served, tokens["dispatcher"], name="导出测试", phone="13900007721", district="云岩区")
    page = _page(chromium, served, lang, accept_downloads=True)
    wait_live(page)
    en = lang == "en"
    expected = {
        "export-stock": ("Place code", "地点编码"),
        "export-movements": ("ID", "编号"),
        "export-discrepancies": ("ID", "编号"),
        "export-volunteers": ("ID", "编号"),
    }
    for button, (first_en, first_zh) in expected.items():
        with page.expect_download() as got:
            page.click(f"#{button}")
        path = tmp_path / f"{button}.xlsx"
        got.value.save_as(path)
        header = _sheet_rows(str(path))[0]
        assert header[0] == (first_en if en else first_zh), (button, header)
    stock = _sheet_rows(str(tmp_path / "export-stock.xlsx"))
    assert stock[0][3] == ("Item" if en else "物资")
    assert all(not str(row[3]).isupper() for row in stock[1:])  # names, never FOOD-NOODLE
    shot(page, f"board-exports-{lang}")
    # the roster page's CSV holds what its search shows, phones masked for a dispatcher
    page.goto(f"{served.url}/board/volunteers")
    _search(page, q="导出测试")
    with page.expect_download() as got:
        page.click("#export-csv")
    path = tmp_path / "roster.csv"
    got.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows[0][:3] == (["ID", "Name", "Phone"] if en else ["编号", "姓名", "手机号"])
    assert [r[1:3] for r in rows[1:]] == [["导出测试", "139****7721"]]
    page.context.close()


def _assignment(engine: Engine, task_id: int, volunteer_id: int) -> Assignment | None:
    with Session(engine) as s:
        return s.exec(
            select(Assignment).where(
                Assignment.task_id == task_id, Assignment.volunteer_id == volunteer_id
            )
        ).first()


@pytest.mark.parametrize("lang", LANGS)
def test_assign_a_volunteer_by_typing_their_name(
    served: Served, chromium: Any, engine: Engine, tokens: dict[str, str], lang: str
) -> None:
    auth = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    r = httpx.put(f"{served.url}/api/playbooks/ice_storm", json=SMALL_PLAYBOOK, headers=auth)
    assert r.status_code == 200, r.text
    # far from the task and without its skill: the matching never offers it to them
    wang = _add(
        served,
        tokens["dispatcher"],
        name="指派测试王五",
        phone="13900007731",
        district="花溪区",
        skills=["first_aid"],
    )
    page = _page(chromium, served, lang)
    wait_live(page)
    alert = page.evaluate(
        """() => NL.api('POST', '/api/alerts', {kind: 'ice_storm', level: 'orange',
             districts: ['云岩区'], headline: '道路结冰橙色预警'})"""
    )
    button = page.locator(
        f'.incident[data-incident-id="{alert["incident_id"]}"] button[data-action="assign"]'
    )
    button.first.wait_for(timeout=30_000)
    task_id = int(button.first.get_attribute("data-id"))
    button.first.click()
    page.wait_for_selector("#picker[open]")
    page.locator("#picker-q").press_sequentially("指派测试", delay=30)
    choice = page.locator(f'#picker-list button[data-volunteer-id="{wang}"]')
    choice.wait_for()
    text = choice.inner_text()
    assert "指派测试王五" in text
    assert (
        ("Huaxi District" in text and "first aid" in text)
        if lang == "en"
        else ("花溪区" in text and "急救" in text)
    )
    shot(page, f"board-assign-picker-{lang}")
    choice.click()
    page.wait_for_selector("#picker[open]", state="detached")
    made = wait_for(lambda: _assignment(engine, task_id, wang), timeout=30)
    assert made.status == "accepted" and made.source == "dispatcher"
    page.wait_for_selector(
        f'.task[data-task-id="{task_id}"] .person:has-text("指派测试王五")', timeout=30_000
    )
    # the same person again is refused, in the reader's words
    page.click(f'.task[data-task-id="{task_id}"] button[data-action="assign"]')
    page.locator("#picker-q").press_sequentially("指派测试王五", delay=20)
    page.locator(f'#picker-list button[data-volunteer-id="{wang}"]').wait_for()
    page.locator("#picker-q").press("Enter")  # the keyboard way: the first match
    toast = page.locator("#toast.bad")
    toast.wait_for()
    assert toast.inner_text() == (
        "the volunteer is already in this task" if lang == "en" else "该志愿者已在这个任务中"
    )
    page.context.close()
