"""Demand and supply planning for the homeward-journey stations.

Demand: travellers a station serves per day (an uploaded forecast, else the default curve over
the 40 days of the travel rush, peaking before New Year's Eve and again after the Lantern
Festival) times per-traveller consumption of each item.

Supply: the warehouse's limited stock is allocated across stations to maximise the worst
station's days of cover (a linear programme solved by HiGHS through
``scipy.optimize.linprog``), then purchases are proposed within what is left of the fund. The
maths here is pure (arrays in, arrays out); :func:`load_inputs` reads the database. Uploaded
forecasts are checked and stored by `forecasts.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import holidays
import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix
from sqlmodel import Session, col, select

from coordinator.errors import DomainError
from coordinator.logistics import ledger
from coordinator.logistics.models import Forecast, Item, Place

# the consumption rates have a module of their own, so the service can hand them out too
from coordinator.logistics.rates import RATES_BY_CATEGORY as RATES_BY_CATEGORY
from coordinator.logistics.rates import RATES_BY_SKU as RATES_BY_SKU
from coordinator.logistics.rates import rate_for as rate_for
from coordinator.logistics.service import in_transit

RUSH_DAYS = 40
#: the rush opens 15 days before Lunar New Year (day 15), so New Year's Eve is day 14 and the
#: Lantern Festival (15th of the first month) day 29
DAYS_BEFORE_NEW_YEAR = 15
NEW_YEARS_EVE_DAY = DAYS_BEFORE_NEW_YEAR - 1
LANTERN_DAY = DAYS_BEFORE_NEW_YEAR + 14

#: travellers the demo stations serve in a season, all together. With the rates below this
#: reproduces the seed's yearly totals: 8,000+ food and drink, 3,000+ boxes of medicine, 124
#: tickets home.
SEASON_TRAVELLERS = 10_000

#: the two city-level stations the union runs itself carry the most travellers
CITY_STATIONS = frozenset({"ST-JINYANG", "ST-LONGDONGBAO"})
DEFAULT_TARGET_DAYS = 3.0


def station_weight(place: Place) -> float:
    """Relative traveller volume of a station: city-level bus stations, railway stations,
    district bus stations."""
    if place.code in CITY_STATIONS:
        return 4.0
    if place.station_type == "rail":
        return 3.0
    return 0.75


@lru_cache
def default_curve(days: int = RUSH_DAYS) -> tuple[float, ...]:
    """The share of the season's travellers on each day of the rush (sums to 1): a steady base,
    a homeward peak a few days before New Year's Eve, a return peak after the Lantern
    Festival."""
    weights = []
    for d in range(days):
        home = math.exp(-0.5 * ((d - (NEW_YEARS_EVE_DAY - 4)) / 3.0) ** 2)
        back = 0.8 * math.exp(-0.5 * ((d - (LANTERN_DAY + 3)) / 3.0) ** 2)
        weights.append(0.25 + home + back)
    total = sum(weights)
    return tuple(w / total for w in weights)


def season_totals(
    rates: dict[str, float] | None = None, travellers: int = SEASON_TRAVELLERS
) -> dict[str, float]:
    """Expected items handed out in a season by category under the default curve."""
    rates = rates or RATES_BY_SKU
    curve = default_curve()
    served = sum(travellers * share for share in curve)
    totals: dict[str, float] = {}
    for sku, rate in rates.items():
        category = "food_drink" if sku.split("-")[0] in ("FOOD", "DRINK") else sku.split("-")[0]
        totals[category.lower()] = totals.get(category.lower(), 0.0) + served * rate
    return {
        "food_drink": totals.get("food_drink", 0.0),
        "medicine": totals.get("med", 0.0),
        "tickets": totals.get("ticket", 0.0),
    }


class CalendarError(DomainError, ValueError):
    """A date outside the years whose Spring Festival the calendar knows."""

    code = "no_rush_calendar"


def rush_start(year: int, *, days_before: int = DAYS_BEFORE_NEW_YEAR) -> date:
    """The first day of the travel rush whose Lunar New Year falls in `year`."""
    if 1950 < year < 2100:
        for day, name in sorted(holidays.country_holidays("CN", years=year).items()):
            if name.startswith("Chinese New Year (Spring Festival)"):
                return day - timedelta(days=days_before)
    raise CalendarError(f"no Spring Festival date is known for {year} (1951-2099 are)")


def rush_day(today: date) -> int:
    """Day index of `today` in its travel rush (0..39). Between two rushes it is day 0 of the
    next one: planning then prepares for a whole season."""
    start = rush_start(today.year)
    if today >= start + timedelta(days=RUSH_DAYS):
        start = rush_start(today.year + 1)
    return min(max((today - start).days, 0), RUSH_DAYS - 1)


# -- the optimisation ---------------------------------------------------------------------------
@dataclass
class PlanInputs:
    """Everything the solver needs, as arrays indexed [station, item]."""

    station_ids: list[int]
    item_ids: list[int]
    stock: np.ndarray  # stations × items, at the stations (incl. in transit)
    demand: np.ndarray  # stations × items, per day
    warehouse: np.ndarray  # items
    unit_cost_fen: np.ndarray  # items
    budget_fen: int
    target_days: float = DEFAULT_TARGET_DAYS


@dataclass
class PlanResult:
    allocate: np.ndarray  # stations × items, whole units from the warehouse
    purchase: np.ndarray  # stations × items, whole units to buy
    coverage: np.ndarray  # stations × items, days of cover after both (capped display: inf→T)
    worst_coverage_days: float
    worst_after_allocation: float
    purchase_fen: int
    lp_worst_by_item: list[float] = field(default_factory=list)


def coverage_of(have: np.ndarray, demand: np.ndarray, cap: float) -> np.ndarray:
    """Days of cover; items nobody needs count as fully covered (`cap`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(demand > 0, have / np.where(demand > 0, demand, 1), cap)
    return np.minimum(cov, cap)


def _maxmin(
    have: np.ndarray,
    demand: np.ndarray,
    cap: float,
    *,
    supply: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    budget: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Max-min days of cover: an LP solved by HiGHS finds the best worst level, then what is
    left is shared out towards the cap (:func:`_second_stage`). `supply` limits each item's
    total (allocation: one worst level per item); `cost`/`budget` limit total spend
    (purchases: one worst level across all items). Returns (added units per station and item
    as floats, the optimal worst level per item)."""
    n_s, n_i = demand.shape
    # cells already covered up to the cap need nothing and only slow the solver down
    cells = [
        (s, i)
        for s in range(n_s)
        for i in range(n_i)
        if demand[s, i] > 0 and have[s, i] < cap * demand[s, i]
    ]
    n_x = len(cells)
    per_item = supply is not None
    n_t = n_i if per_item else 1
    if n_x == 0:
        return np.zeros_like(demand, dtype=float), np.full(n_i, cap)
    # variables: x (n_x) | t (n_t)
    n_var = n_x + n_t
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    rhs: list[float] = []
    r = 0
    for k, (s, i) in enumerate(cells):
        t_col = n_x + (i if per_item else 0)
        # t·d − x ≤ have
        rows += [r, r]
        cols += [t_col, k]
        vals += [demand[s, i], -1.0]
        rhs.append(have[s, i])
        r += 1
    if per_item:
        assert supply is not None
        for i in range(n_i):
            ks = [k for k, (_s, ii) in enumerate(cells) if ii == i]
            if not ks:
                continue
            rows += [r] * len(ks)
            cols += ks
            vals += [1.0] * len(ks)
            rhs.append(float(supply[i]))
            r += 1
    if cost is not None and budget is not None:
        rows += [r] * n_x
        cols += list(range(n_x))
        vals += [float(cost[i]) for (_s, i) in cells]
        rhs.append(float(budget))
        r += 1
    a_ub = coo_matrix((vals, (rows, cols)), shape=(r, n_var)).tocsr()
    b_ub = np.array(rhs)
    bounds = [(0, None)] * n_x + [(0, cap)] * n_t
    c1 = np.zeros(n_var)
    c1[n_x : n_x + n_t] = -1.0
    first = linprog(c1, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if first.status != 0:
        raise RuntimeError(f"planner LP failed: {first.message}")
    levels = first.x[n_x : n_x + n_t]
    x = _second_stage(levels, cells, have, demand, cap, supply, cost, budget)
    added = np.zeros_like(demand, dtype=float)
    for k, (s, i) in enumerate(cells):
        added[s, i] = max(x[k], 0.0)
    by_item = levels if per_item else np.full(n_i, levels[0])
    for i in range(n_i):
        if not (demand[:, i] > 0).any():
            by_item[i] = cap
    return added, by_item


def _second_stage(
    levels: np.ndarray,
    cells: list[tuple[int, int]],
    have: np.ndarray,
    demand: np.ndarray,
    cap: float,
    supply: np.ndarray | None,
    cost: np.ndarray | None,
    budget: float | None,
) -> np.ndarray:
    """Every cell gets exactly what lifts it to its worst level; what is left (stock per item,
    or money) is shared in proportion to each cell's remaining need up to the cap. This keeps
    the LP's max-min optimum and never ships more than a station needs."""
    per_item = supply is not None
    d = np.array([demand[c] for c in cells])
    h = np.array([have[c] for c in cells])
    items = np.array([i for (_s, i) in cells])
    level = levels[items] if per_item else np.full(len(cells), levels[0])
    base = np.maximum(level * d - h, 0.0)
    extra = np.maximum(cap * d - h - base, 0.0)
    if per_item:
        assert supply is not None
        x = base.copy()
        for i in np.unique(items):
            mask = items == i
            used = base[mask].sum()
            if used > supply[i]:  # the LP's tolerance: never hand out more than there is
                x[mask] = base[mask] * (supply[i] / used)
                continue
            want = extra[mask].sum()
            if want > 0:
                x[mask] += extra[mask] * min(1.0, (supply[i] - used) / want)
        return x
    assert cost is not None and budget is not None
    price = cost[items]
    spent = float((base * price).sum())
    if spent > budget:
        return base * (budget / spent)
    want = float((extra * price).sum())
    return base + (extra * min(1.0, (budget - spent) / want) if want > 0 else 0.0)


def _round_allocation(
    added: np.ndarray, have: np.ndarray, demand: np.ndarray, supply: np.ndarray
) -> np.ndarray:
    """Whole units: round down, then hand the units left over (at most one per station) to
    the stations with the least cover first."""
    whole = np.floor(added + 1e-9)
    for i in range(added.shape[1]):
        left = int(supply[i] - whole[:, i].sum())
        fractional = [s for s in range(added.shape[0]) if added[s, i] - whole[s, i] > 1e-6]
        fractional.sort(key=lambda s: (have[s, i] + whole[s, i]) / max(demand[s, i], 1e-12))
        for s in fractional[: max(left, 0)]:
            whole[s, i] += 1
    return whole.astype(int)


def _round_purchases(
    bought: np.ndarray, have: np.ndarray, demand: np.ndarray, cost: np.ndarray, budget: int
) -> np.ndarray:
    """Whole units within the budget: round down, then buy the rounded-off units back for the
    stations with the least cover first while the money lasts."""
    whole = np.floor(bought + 1e-9)
    left = budget - float((whole * cost[None, :]).sum())
    fractional = [
        (s, i)
        for s in range(bought.shape[0])
        for i in range(bought.shape[1])
        if bought[s, i] - whole[s, i] > 1e-6
    ]
    fractional.sort(key=lambda c: (have[c] + whole[c]) / max(demand[c], 1e-12))
    for s, i in fractional:
        if cost[i] <= left:
            whole[s, i] += 1
            left -= cost[i]
    return whole.astype(int)


def solve(inputs: PlanInputs) -> PlanResult:
    """Allocate the warehouse, then buy within the budget; both maximise the worst cover."""
    cap = inputs.target_days
    have = inputs.stock.astype(float)
    added, levels = _maxmin(have, inputs.demand, cap, supply=inputs.warehouse.astype(float))
    allocate = _round_allocation(added, have, inputs.demand, inputs.warehouse)
    after = have + allocate
    worst_after_allocation = float(coverage_of(after, inputs.demand, cap).min(initial=cap))
    purchase = np.zeros_like(allocate)
    buyable = inputs.unit_cost_fen > 0
    if inputs.budget_fen > 0 and buyable.any() and worst_after_allocation < cap:
        demand = np.where(buyable[None, :], inputs.demand, 0.0)
        bought, _ = _maxmin(
            after, demand, cap, cost=inputs.unit_cost_fen.astype(float), budget=inputs.budget_fen
        )
        purchase = _round_purchases(bought, after, demand, inputs.unit_cost_fen, inputs.budget_fen)
    spend = int((purchase * inputs.unit_cost_fen[None, :]).sum())
    final = coverage_of(after + purchase, inputs.demand, cap)
    return PlanResult(
        allocate=allocate,
        purchase=purchase,
        coverage=final,
        worst_coverage_days=float(final.min(initial=cap)),
        worst_after_allocation=worst_after_allocation,
        purchase_fen=spend,
        lp_worst_by_item=[float(v) for v in levels],
    )


def proportional_split(inputs: PlanInputs) -> tuple[np.ndarray, float]:
    """The baseline a spreadsheet would do: each item's warehouse stock split in proportion to
    the stations' demand, ignoring what they already hold. Returns (allocation, worst cover)."""
    totals = inputs.demand.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals > 0, inputs.demand / np.where(totals > 0, totals, 1), 0.0)
    allocation = np.floor(share * inputs.warehouse[None, :]).astype(int)
    cover = coverage_of(inputs.stock + allocation, inputs.demand, inputs.target_days)
    return allocation, float(cover.min(initial=inputs.target_days))


# -- reading the database -----------------------------------------------------------------------
def travellers_per_day(
    *,
    session: Session,
    stations: Sequence[Place],
    days: Sequence[date],
    season_travellers: int = SEASON_TRAVELLERS,
) -> np.ndarray:
    """stations × days: uploaded forecasts where they exist, else the default curve."""
    weights = np.array([station_weight(p) for p in stations])
    shares = weights / weights.sum() if weights.sum() else weights
    curve = default_curve()
    out = np.zeros((len(stations), len(days)))
    for j, day in enumerate(days):
        out[:, j] = season_travellers * shares * curve[rush_day(day)]
    ids = [p.id for p in stations]
    if days:
        uploaded = session.exec(
            select(Forecast).where(
                col(Forecast.place_id).in_(ids),
                col(Forecast.day) >= min(days),
                col(Forecast.day) <= max(days),
            )
        ).all()
        index = {pid: k for k, pid in enumerate(ids)}
        day_index = {d: j for j, d in enumerate(days)}
        for row in uploaded:
            if row.day in day_index:
                out[index[row.place_id], day_index[row.day]] = row.travellers
    return out


def load_inputs(
    *,
    session: Session,
    station_ids: Sequence[int],
    warehouse_id: int,
    as_of: date,
    target_days: float = DEFAULT_TARGET_DAYS,
    budget_fen: int = 0,
    demand_factor: float = 1.0,
) -> tuple[PlanInputs, list[Place], list[Item]]:
    """Read stations' stock (with what is on the way), demand over the next `target_days`,
    the warehouse's stock. Tickets are bought on the spot, so they are left out."""
    stations = [
        p
        for p in session.exec(
            select(Place).where(col(Place.id).in_(station_ids)).order_by(col(Place.id))
        ).all()
        if p.kind == "station"
    ]
    items = [
        i
        for i in session.exec(select(Item).order_by(col(Item.id))).all()
        if i.category != "ticket" and rate_for(i) > 0
    ]
    horizon = max(1, math.ceil(target_days))
    days = [as_of + timedelta(days=k) for k in range(horizon)]
    travellers = travellers_per_day(session=session, stations=stations, days=days)
    per_day = travellers.mean(axis=1) * demand_factor
    rates = np.array([rate_for(i) for i in items])
    demand = per_day[:, None] * rates[None, :]
    stock = np.zeros((len(stations), len(items)))
    for s, place in enumerate(stations):
        assert place.id is not None
        coming = in_transit(session=session, to_id=place.id)
        for i, item in enumerate(items):
            assert item.id is not None
            stock[s, i] = ledger.balance(
                session=session, place_id=place.id, item_id=item.id
            ) + coming.get(item.id, 0)
    warehouse = np.array(
        [ledger.balance(session=session, place_id=warehouse_id, item_id=i.id or 0) for i in items]
    )
    inputs = PlanInputs(
        station_ids=[p.id or 0 for p in stations],
        item_ids=[i.id or 0 for i in items],
        stock=stock,
        demand=demand,
        warehouse=warehouse,
        unit_cost_fen=np.array([i.unit_cost_fen for i in items]),
        budget_fen=budget_fen,
        target_days=target_days,
    )
    return inputs, stations, items


def ticket_reserve_fen(*, session: Session, station_ids: Sequence[int], as_of: date) -> int:
    """What emergency tickets are expected to cost for the rest of the rush: kept out of
    purchase budgets so the fund can still buy workers their tickets home."""
    stations = [p for p in session.exec(select(Place).where(col(Place.id).in_(station_ids))).all()]
    tickets = [i for i in session.exec(select(Item)).all() if i.category == "ticket"]
    if not stations or not tickets:
        return 0
    remaining = RUSH_DAYS - rush_day(as_of)
    days = [as_of + timedelta(days=k) for k in range(remaining)]
    travellers = float(travellers_per_day(session=session, stations=stations, days=days).sum())
    return int(sum(travellers * rate_for(t) * t.unit_cost_fen for t in tickets))
