"""The reports on the board: the same document as the PDF, as a page (tables and the PDF's own
chart images), for dispatchers only."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer
from tests.dispatch.helpers import add_assignment, add_task

HTML = {"accept": "text/html"}


def _cells(page: str, name: str) -> list[list[str]]:
    """The text of each row of the page's table `name`."""
    body = page.split(f'data-table="{name}"', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body.split("<tr")[2:]]


def test_the_incident_page_shows_the_reports_figures_and_charts(api, tokens, engine):
    with Session(engine) as s:
        task = add_task(s, slots=2, title="路面除冰", district_code="520103")
        people = [v.id for v in s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(3))]
        add_assignment(s, task, people[0], slot=0, code="A1", status="accepted")
        add_assignment(s, task, people[1], slot=1, code="A2", status="declined")
        s.commit()
        incident_id = task.incident_id
    api.headers.update(bearer(tokens["dispatcher"]))
    page = api.get(f"/board/incidents/{incident_id}/report", headers=HTML)
    assert page.status_code == 200, page.text
    html = page.text
    assert "共需志愿者2人次，已到位1人次（到位率50.0%）" in html and "婉拒1次" in html
    assert f'href="/api/incidents/{incident_id}/report.pdf?lang=zh"' in html
    assert html.count("data:image/png;base64,") == 2  # the fill curve and the districts
    rows = _cells(html, "tasks")
    assert rows[0][1:6] == ["路面除冰", "云岩区", "2", "1", "50.0%"]
    assert rows[-1][1] == "合计"
    english = api.get(f"/board/incidents/{incident_id}/report?lang=en", headers=HTML).text
    assert "1 of 2 slots filled (50.0%)" in english


def test_the_season_page_and_the_boards_link_to_it(api, season, tokens):
    api.headers.update(bearer(tokens["dispatcher"]))
    html = api.get("/board/reports/travel-rush/2026", headers=HTML).text
    assert "各服务站共发放方便面、饮用水、饼干等食品饮料146件" in html
    total = _cells(html, "stations")[-1]
    assert total[:4] == ["合计", "146", "19", "3"] and total[4] == "390.50"
    assert 'href="/api/reports/travel-rush/2026.xlsx?lang=zh"' in html
    board = api.get("/board", headers=HTML).text
    assert re.search(r'href="/board/reports/travel-rush/20\d\d"', board)


def test_report_pages_are_for_dispatchers(api, tokens, engine):
    with Session(engine) as s:
        incident_id = add_task(s).incident_id
        s.commit()
    api.headers.update(bearer(tokens["manager_a"]))
    assert api.get(f"/board/incidents/{incident_id}/report", headers=HTML).status_code == 403
    assert api.get("/board/reports/travel-rush/2026", headers=HTML).status_code == 403
    api.headers.update(bearer(tokens["dispatcher"]))
    assert api.get("/board/incidents/999999/report", headers=HTML).status_code == 404
    assert api.get(f"/board/incidents/{incident_id}/report?lang=fr").status_code == 422
    assert api.get("/board/reports/travel-rush/1900").status_code == 422
    del api.headers["Authorization"]
    away = api.get("/board/reports/travel-rush/2026", headers=HTML, follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/login?next=")
