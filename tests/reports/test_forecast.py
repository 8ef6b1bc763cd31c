"""Next season's forecast from this season's hand-outs, aligned by days from Lunar New Year:
the alignment is checked against the `lunardate` calendar (an independent library, not the
`holidays` package the product reads), the proposal against the hand-outs it came from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from lunardate import LunarDate
from sqlmodel import Session, select

from coordinator.accounts.models import AuditLog
from coordinator.logistics.models import Forecast, Item
from coordinator.logistics.rates import rate_for
from coordinator.reports import forecast
from coordinator.reports.seasons import SeasonReport, StationSeason
from tests.reports.readers import pdf_text


def _lny(year: int) -> date:
    return LunarDate(year, 1, 1).toSolarDate()


def _season(year: int, handed: dict[date, int], *, days_before: int = 15) -> SeasonReport:
    """A season at one station that handed out `handed` (day → units of item 1)."""
    lny = _lny(year)
    first = lny - timedelta(days=days_before)
    moment = datetime(year, 1, 1, tzinfo=UTC)
    return SeasonReport(
        year=year,
        lunar_new_year=lny,
        first_day=first,
        last_day=first + timedelta(days=39),
        since=moment,
        until=moment,
        generated_at=moment,
        tz="Asia/Shanghai",
        stations=[StationSeason(station_id=7, code="ST-X", name_zh="站", name_en="X")],
        items=[],
        per_day={},
        per_station_day={},
        per_station_day_item={(7, day, 1): n for day, n in handed.items()},
        destinations={},
        discrepancy_lines=[],
        budget_fen=0,
        spent_by_kind={},
        fund_names=[],
        volunteers=0,
        hours_served=0.0,
        stock_series={},
    )


@pytest.mark.parametrize("year", [2014, 2020, 2023, 2026, 2033])
def test_a_day_of_the_rush_lands_on_the_same_day_of_the_next(year):
    # 2020 and 2023 have a leap month (闰四月, 闰二月), 2033 the famous 闰十一月: the solar
    # dates of Lunar New Year jump by 10 to 20 days, the day of the rush must not
    busy = _lny(year) - timedelta(days=4)  # the homeward peak, four days before 除夕 + 1
    one = timedelta(days=1)
    report = _season(year, {busy - one: 30, busy: 300, busy + one: 30})
    proposal = forecast.propose(
        report, rates={1: 0.5}, next_lunar_new_year=_lny(year + 1), stored={}
    )
    assert len(proposal.days) == 40
    peak = max(proposal.rows, key=lambda r: r[2])
    assert peak[2] == round(360 / 0.5 / 3)  # travellers, smoothed over three days
    # the same lunar offset a year on, as the independent calendar counts it
    assert (peak[1] - _lny(year + 1)).days == (busy - _lny(year)).days == -4
    lunar = LunarDate.fromSolarDate(peak[1].year, peak[1].month, peak[1].day)
    # …which the lunar calendar reads as the twelfth month of the lunar year before, like busy
    assert (lunar.year, lunar.month) == (year, 12)
    assert _lunar_of(busy)[0] == 12
    assert proposal.days[0].next_day == _lny(year + 1) - timedelta(days=15)
    assert sum(d.proposed for d in proposal.days) == sum(r[2] for r in proposal.rows)


def _lunar_of(day: date) -> tuple[int, int]:
    """(lunar month, day) of a solar date. Four days before Lunar New Year is the 26th or 27th
    of the twelfth month, as that month has 29 or 30 days: the rush counts days, not dates."""
    lunar = LunarDate.fromSolarDate(day.year, day.month, day.day)
    return lunar.month, lunar.day


def test_hand_outs_outside_the_window_teach_nothing():
    year = 2026
    report = _season(year, {_lny(year) + timedelta(days=60): 500})
    proposal = forecast.propose(
        report, rates={1: 0.5}, next_lunar_new_year=_lny(year + 1), stored={}
    )
    assert all(n == 0 for _, _, n in proposal.rows)
    assert forecast.served(report, {}) == {}


def test_the_proposal_from_a_season_and_a_dispatcher_accepting_it(api, season, engine):
    with Session(engine) as s:
        rates = {i.id: rate_for(i) for i in s.exec(select(Item)).all() if i.category != "ticket"}
    per_traveller = sum(rates.values())
    body = api.get("/api/reports/travel-rush/2026/forecast").json()
    assert body["lunar_new_year"] == _lny(2026).isoformat()
    assert body["next_lunar_new_year"] == _lny(2027).isoformat()
    days = body["days"]
    assert [d["offset"] for d in days] == list(range(-15, 25))
    for d in days:
        this_day, next_day = date.fromisoformat(d["this_day"]), date.fromisoformat(d["next_day"])
        assert (this_day - _lny(2026)).days == (next_day - _lny(2027)).days == d["offset"]
    by_offset = {d["offset"]: d for d in days}
    # day 1 (5 February 2026, 12 days before LNY): a handed out 122 goods, b 32
    assert by_offset[-12]["served"] == pytest.approx((122 + 32) / per_traveller)
    assert by_offset[-12]["forecast"] is None  # nobody uploaded a forecast for 2026
    a, b = season["a"], season["b"]
    rows = {(r["station_id"], r["date"]): r["travellers"] for r in body["rows"]}
    assert len(rows) == 12 * 40
    day = (_lny(2027) - timedelta(days=12)).isoformat()
    assert rows[(a, day)] == round(122 / per_traveller / 3)
    assert rows[(b, day)] == round(32 / per_traveller / 3)

    edit = {"station_id": a, "date": day, "travellers": 250}
    r = api.post("/api/reports/travel-rush/2026/forecast", json={"edits": [edit]})
    assert r.status_code == 200, r.text
    assert r.json() == {"next_year": 2027, "stored": 480, "edited": 1}
    with Session(engine) as s:
        stored = {(f.place_id, f.day.isoformat()): f.travellers for f in s.exec(select(Forecast))}
        audit = s.exec(select(AuditLog).where(AuditLog.action == "forecast.accepted")).one()
    assert stored[(a, day)] == 250 and stored[(b, day)] == rows[(b, day)]
    assert audit.detail == {"from_season": 2026, "rows": 480, "edited": 1}
    # next season shows the accepted forecast beside what it will serve
    following = api.get("/api/reports/travel-rush/2027/forecast").json()["days"]
    assert {d["offset"]: d["forecast"] for d in following}[-12] == 250 + rows[(b, day)]

    text = pdf_text(api.get("/api/reports/travel-rush/2026.pdf").content).replace("\n", "")
    assert "下一季客流建议（按距春节天数对齐）" in text
    assert f"2026-02-05 {(122 + 32) / per_traveller:.1f} — {day} " in text


def test_bad_edits_are_refused_and_store_nothing(api, season, engine):
    a = season["a"]
    outside = (_lny(2027) + timedelta(days=40)).isoformat()
    inside = _lny(2027).isoformat()
    for edits, code in (
        ([{"station_id": a, "date": outside, "travellers": 5}], "forecast_edit_refused"),
        ([{"station_id": 999_999, "date": inside, "travellers": 5}], "forecast_edit_refused"),
        ([{"station_id": a, "date": inside, "travellers": -1}], None),
        ([{"station_id": a, "date": "2027-02-30", "travellers": 1}], None),
        ([{"station_id": a, "date": inside, "travellers": 10**7}], None),
    ):
        r = api.post("/api/reports/travel-rush/2026/forecast", json={"edits": edits})
        assert r.status_code == 422, (edits, r.text)
        if code:
            assert r.json()["code"] == code
    assert api.post("/api/reports/travel-rush/2026/forecast", content=b"[").status_code == 422
    with Session(engine) as s:
        assert s.exec(select(Forecast)).all() == []
    assert api.get("/api/reports/travel-rush/2100/forecast").status_code == 422
