"""Planning: the default curve reproduces the seed's totals; the planner reaches the LP
optimum and respects stock and fund limits; forecast CSVs are checked row by row."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from scipy.optimize import linprog

from coordinator.logistics import forecasts, planning


def test_default_curve_reproduces_the_seeds_yearly_totals():
    totals = planning.season_totals()
    assert abs(totals["food_drink"] - 8000) / 8000 <= 0.10
    assert abs(totals["medicine"] - 3000) / 3000 <= 0.10
    assert abs(totals["tickets"] - 124) / 124 <= 0.10
    curve = planning.default_curve()
    assert len(curve) == 40 and abs(sum(curve) - 1) < 1e-9
    first_peak = max(range(planning.LANTERN_DAY), key=lambda d: curve[d])
    second_peak = max(range(planning.LANTERN_DAY, 40), key=lambda d: curve[d])
    assert first_peak < planning.NEW_YEARS_EVE_DAY
    assert second_peak > planning.LANTERN_DAY
    trough = min(curve[planning.NEW_YEARS_EVE_DAY : planning.LANTERN_DAY])
    assert curve[first_peak] > 2 * trough and curve[second_peak] > 2 * trough


def test_rush_calendar_matches_the_official_2026_window():
    assert planning.rush_start(2026) == date(2026, 2, 2)
    assert planning.rush_day(date(2026, 2, 16)) == planning.NEW_YEARS_EVE_DAY
    assert planning.rush_day(date(2026, 3, 13)) == 39
    # between two rushes: prepare for the next one from its first day
    assert planning.rush_day(date(2026, 11, 25)) == 0
    assert planning.rush_day(date(2027, 1, 10)) == 0


def _lp_worst(have: np.ndarray, demand: np.ndarray, supply: float, cap: float) -> float:
    """An independent max-min LP for one item: maximise t s.t. have+x ≥ t·d, Σx ≤ supply."""
    n = len(have)
    c = np.zeros(n + 1)
    c[-1] = -1.0
    a = np.zeros((n + 1, n + 1))
    b = np.zeros(n + 1)
    for s in range(n):
        a[s, s] = -1.0
        a[s, -1] = demand[s]
        b[s] = have[s]
    a[n, :n] = 1.0
    b[n] = supply
    res = linprog(c, A_ub=a, b_ub=b, bounds=[(0, None)] * n + [(0, cap)], method="highs")
    assert res.status == 0
    return float(res.x[-1])


def _inputs(seed: int, stations: int = 12, items: int = 5, budget: int = 0):
    rng = np.random.default_rng(seed)
    return planning.PlanInputs(
        station_ids=list(range(stations)),
        item_ids=list(range(items)),
        stock=rng.integers(0, 40, (stations, items)).astype(float),
        demand=rng.uniform(0.5, 25, (stations, items)),
        warehouse=rng.integers(0, 400, items),
        unit_cost_fen=rng.integers(100, 2000, items),
        budget_fen=budget,
        target_days=3.0,
    )


@pytest.mark.parametrize("seed", range(6))
def test_allocation_reaches_the_lp_optimum_within_stock(seed):
    inputs = _inputs(seed)
    result = planning.solve(inputs)
    assert (result.allocate >= 0).all()
    assert (result.allocate.sum(axis=0) <= inputs.warehouse).all()
    assert (result.purchase == 0).all() and result.purchase_fen == 0
    for i in range(inputs.demand.shape[1]):
        optimum = _lp_worst(
            inputs.stock[:, i], inputs.demand[:, i], float(inputs.warehouse[i]), 3.0
        )
        assert result.lp_worst_by_item[i] == pytest.approx(optimum, abs=1e-6)
        cover = planning.coverage_of(
            inputs.stock[:, i] + result.allocate[:, i], inputs.demand[:, i], 3.0
        )
        # whole units cost at most one unit's worth of cover at the worst station
        assert cover.min() >= optimum - 1.0 / inputs.demand[:, i].min() - 1e-9
    _, baseline = planning.proportional_split(inputs)
    assert result.worst_after_allocation >= baseline - 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_purchases_stay_within_the_fund_and_raise_the_worst_cover(seed):
    inputs = _inputs(seed, budget=200_000)
    result = planning.solve(inputs)
    spent = int((result.purchase * inputs.unit_cost_fen[None, :]).sum())
    assert spent == result.purchase_fen <= inputs.budget_fen
    assert (result.purchase >= 0).all()
    assert result.worst_coverage_days >= result.worst_after_allocation
    poor = _inputs(seed, budget=0)
    assert planning.solve(poor).purchase_fen == 0


def test_nothing_needed_nothing_shipped():
    inputs = _inputs(1)
    inputs.stock = inputs.demand * 5
    result = planning.solve(inputs)
    assert result.allocate.sum() == 0 and result.worst_coverage_days == 3.0


STATIONS = {"ST-A": 1, "ST-B": 2, "2": 2}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("station;date;travellers\nST-A;2026-02-02;5\n", "header"),
        ("station,date,travellers\nST-X,2026-02-02,5\n", "unknown station"),
        ("station,date,travellers\nST-A,02/02/2026,5\n", "not a date"),
        ("station,date,travellers\nST-A,2026-02-02,-5\n", "0..1000000"),
        ("station,date,travellers\nST-A,2026-02-02,9999999999\n", "0..1000000"),
        ("station,date,travellers\nST-A,2026-02-02,5,7\n", "3 columns"),
        ("station,date,travellers\nST-A,2026-02-02,5\nST-A,2026-02-02,6\n", "twice"),
        ("station,date,travellers\n", "no forecast rows"),
        ('station,date,travellers\n"ST-A,2026-02-02,5\n', "3 columns"),
    ],
)
def test_bad_forecast_csv_is_refused_with_the_row(text, needle):
    with pytest.raises(forecasts.ForecastError) as info:
        forecasts.parse_forecast_csv(text, stations=STATIONS)
    assert needle in str(info.value)


def test_forecast_csv_lists_every_bad_row():
    text = "station,date,travellers\nST-A,2026-02-02,5\nST-X,2026-02-02,5\nST-B,nope,1\n"
    with pytest.raises(forecasts.ForecastError) as info:
        forecasts.parse_forecast_csv(text, stations=STATIONS)
    assert [e["row"] for e in info.value.errors] == [3, 4]
    good = forecasts.parse_forecast_csv(
        "\ufeffStation,Date,Travellers\nST-A,2026-02-02,5\n2,2026-02-03,0\n", stations=STATIONS
    )
    assert good == [(1, date(2026, 2, 2), 5), (2, date(2026, 2, 3), 0)]
