"""The travel rush's campaign report: a season written through the real API on chosen days
(the rows' times moved onto the 2025 and 2026 rushes, as the days would have stamped them),
then read back from the PDF and the workbook and compared with the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.alerts.calendar import travel_rush_window
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    FundCharge,
    Item,
    Place,
    StockMovement,
)
from nuanliu.check import check
from tests.conftest import bearer
from tests.reports.conftest import DAY_1, SEASON_END_2026
from tests.reports.readers import pdf_text, sheets, table


def _db_totals(engine: Any, year: int) -> dict[str, int]:
    """What the database says of the season: hand-outs by group within its window (in UTC:
    Guiyang's midnight is 16:00 the day before) and the fund's charges; and `nuanliu check`
    finds nothing wrong with the ledger the report read."""
    first, last = travel_rush_window(year, days_before=15, length_days=40)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=8)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(hours=16)
    groups = {"food": "food_drink", "drink": "food_drink", "medicine": "medicine"}
    out = {"food_drink": 0, "medicine": 0, "tickets": 0, "ticket_fen": 0}
    with Session(engine) as s:
        for dist, item in s.exec(
            select(Distribution, Item)
            .join(Item, col(Item.id) == col(Distribution.item_id))
            .where(col(Distribution.at) >= since, col(Distribution.at) < until)
        ).all():
            out[groups.get(item.category, "tickets")] += dist.quantity
            out["ticket_fen"] += dist.cost_fen or 0
        out["charged"] = int(
            s.exec(
                select(func.coalesce(func.sum(FundCharge.amount_fen), 0)).where(
                    col(FundCharge.at) >= since, col(FundCharge.at) < until
                )
            ).one()
        )
        # the `api` app runs no relay, so its events (and the demo template's, staged when the
        # session began) stay in the outbox by design: every other rule must hold
        breaches = [b for b in check(session=s) if b.rule != "outbox_unpublished"]
        assert breaches == []
    return out


def test_the_season_report_counts_what_the_ledger_holds(api, season, engine):
    db = _db_totals(engine, 2026)
    assert db == {
        "food_drink": 146,
        "medicine": 19,
        "tickets": 3,
        "ticket_fen": 39_050,
        "charged": 39_050,
    }
    response = api.get("/api/reports/travel-rush/2026.pdf")
    assert response.status_code == 200, response.text
    text = pdf_text(response.content)
    flat = text.replace("\n", "")
    assert (
        "2026年春运期间，各服务站共发放方便面、饮用水、饼干等食品饮料146件，"
        "晕车药、感冒药等常见药品19盒，为困难农民工购买返乡车票3张，使用专项资金391元。"
    ) in flat
    assert "上一年度（2025年）同期：食品饮料10件，常见药品0盒，返乡车票1张，专项资金90元。" in flat
    assert "“平安返乡”服务总结报告" in text and "各服务站" in text

    book = sheets(api.get("/api/reports/travel-rush/2026.xlsx").content)
    header, body = table(book["stations"])
    by_name = {r[0]: r for r in body[:-1]}
    total = body[-1]
    assert total[1:4] == [146, 19, 3]
    assert total[header.index("购票金额（元）")] == pytest.approx(390.50)
    assert total[header.index("短少（件）")] == 5
    with Session(engine) as s:
        names = {p.id: p.name_zh for p in s.exec(select(Place)).all()}
    a, b, c = (by_name[names[season[k]]] for k in "abc")
    assert a[header.index("到货差异（笔）")] == 1 and a[header.index("短少（件）")] == 5
    # a has had no water since day 1 at 10:00, until the season's end; b no noodles for 15 days
    hours = header.index("缺货时长（小时）")
    water = (SEASON_END_2026 - DAY_1).total_seconds() / 3600
    assert a[hours] == pytest.approx(water)
    assert b[hours] == pytest.approx(15 * 24)
    # c opened on day 2: out of nothing before, its first delivery shown
    assert c[hours] == 0 and c[header.index("首次到货")] == "2026-02-20 10:00"
    assert a[header.index("首次到货")] == "2026-02-05 10:00"
    header, body = table(book["per_day"])
    assert [r[0] for r in body[:-1]] == ["2026-02-05", "2026-02-20"]
    assert [r[1] for r in body[:-1]] == [-12, 3]  # days from Lunar New Year
    assert body[-1][2:] == [146, 19, 3]
    _, body = table(book["fund"])
    assert body[-1][1] == pytest.approx(390.50)
    _, body = table(book["tickets"])
    assert body[0][:2] == ["毕节", 3] and body[0][2] == pytest.approx(390.50)
    _, body = table(book["comparison"])
    assert body[0][1:] == [146, 10, 136]
    _, body = table(book["discrepancies"])
    assert [(r[1], r[2], r[5]) for r in body] == [("方便面", "短少", 5)]

    english = pdf_text(api.get("/api/reports/travel-rush/2026.pdf?lang=en").content)
    assert "handed out 146 items of food and drink" in english.replace("\n", " ")


def test_a_season_with_no_hand_outs(api, tokens):
    api.headers.update(bearer(tokens["dispatcher"]))
    response = api.get("/api/reports/travel-rush/2024.pdf")
    assert response.status_code == 200
    flat = pdf_text(response.content).replace("\n", "")
    assert (
        "2024年春运期间，各服务站共发放食品饮料0件，常见药品0盒，为困难农民工购买返乡车票0张，使用专项资金0元。"
        in flat
    )
    assert "每日发放（按类别）" not in flat  # no chart of nothing
    book = sheets(api.get("/api/reports/travel-rush/2024.xlsx").content)
    _header, body = table(book["per_day"])
    assert body == [["合计", None, 0, 0, 0]]


def test_bad_requests_are_refused(api, tokens):
    assert api.get("/api/reports/travel-rush/2026.pdf").status_code == 401
    api.headers.update(bearer(tokens["manager_a"]))
    assert api.get("/api/reports/travel-rush/2026.pdf").status_code == 403
    api.headers.update(bearer(tokens["dispatcher"]))
    for path in ("1900.pdf", "2100.xlsx", "20x6.pdf", "2026.csv", "2026.pdf?lang=de"):
        assert api.get(f"/api/reports/travel-rush/{path}").status_code == 422, path


@pytest.mark.integration
def test_report_after_a_simulated_rush_agrees_with_the_simulation_and_the_ledger(
    client, tokens, engine
):
    from coordinator.alerts.calendar import window_containing
    from coordinator.dispatch.models import Incident
    from coordinator.logistics.simulate import Simulation
    from tests.conftest import wait_quiet

    client.headers.update(bearer(tokens["admin"]))
    outcome = Simulation(client, speed=1e9, days=2, seed=7).run()
    wait_quiet(engine)
    with Session(engine) as s:
        rush = s.exec(select(Incident).where(Incident.kind == "travel_rush")).one()
        starts = (
            rush.starts_at.replace(tzinfo=UTC) if rush.starts_at.tzinfo is None else rush.starts_at
        )
        found = window_containing(
            (starts + timedelta(hours=8)).date(), days_before=15, length_days=40
        )
        assert found is not None
        year = found[0]
        charged = int(s.exec(select(func.coalesce(func.sum(FundCharge.amount_fen), 0))).one())
        discrepancies = len(
            s.exec(select(Discrepancy).where(col(Discrepancy.superseded).is_(False))).all()
        )
        moved_out = -int(
            s.exec(
                select(func.sum(StockMovement.delta)).where(StockMovement.kind == "distribution")
            ).one()
        )
        assert check(session=s) == []
    given = {k: v[1] for k, v in outcome.by_category.items()}
    assert given["food_drink"] > 0

    book = sheets(client.get(f"/api/reports/travel-rush/{year}.xlsx").content)
    header, body = table(book["stations"])
    total = body[-1]
    assert total[1:4] == [given["food_drink"], given["medicine"], given.get("tickets", 0)]
    # goods the report counts are exactly what left the stations' shelves in the ledger
    assert total[1] + total[2] == moved_out
    assert total[header.index("到货差异（笔）")] == discrepancies
    assert sum(r[header.index("购票金额（元）")] for r in body[:-1]) == pytest.approx(
        sum(t.fund_spent_fen for t in outcome.stations.values()) / 100
    )
    _, fund = table(book["fund"])
    assert fund[-1][1] == pytest.approx(charged / 100)
    text = pdf_text(client.get(f"/api/reports/travel-rush/{year}.pdf").content).replace("\n", "")
    assert "共发放" in text and f"食品饮料{given['food_drink']:,}件" in text
    assert f"使用专项资金{(charged + 50) // 100:,}元" in text
