"""The dense optimum of the matching's objective, computed without the solver's code.

For the benchmarks' "gap to the optimum": every eligible (volunteer, slot) pair of a shift in
one cost matrix, solved by `scipy.optimize.linear_sum_assignment`. Exact because the problem
falls apart by shift (a volunteer takes at most one slot per shift, every slot belongs to one
shift), and within a shift it is an assignment problem. Max fill first, then least cost: an
ineligible pair costs `big`, more than any sum of real costs in that shift, so the assignment
takes as few of them as it can and, among those, the cheapest real pairs.

Its own eligibility (available, finite location and hours, every skill, not busy in the shift)
and its own cost (haversine km · `km` + hours · `hour`, minus `team_bonus` for a member of one
of a team-task slot's lead teams). Which teams lead is the product's decision, taken before the
flow and part of the objective, so it comes from `matching.lead_teams`; nothing else does.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from coordinator.dispatch.matching import Candidate, Match, Slot, Weights, lead_teams
from coordinator.geo.service import EARTH_RADIUS_KM

#: the largest dense problem (Σ over shifts of slots × eligible volunteers) worth building
MAX_CELLS = 200_000_000
#: cost-matrix rows computed at a time (keeps the temporaries of the haversine small)
_ROWS = 64


@dataclass(frozen=True)
class Optimum:
    filled: int
    cost: float
    #: Σ over shifts of slots × candidate columns: the size of what was solved
    cells: int
    #: CPU seconds the reference took
    seconds: float


def cells(slots: Sequence[Slot], candidates: Sequence[Candidate]) -> int:
    """The dense problem's size: Σ over shifts of its slots × the volunteers free in it."""
    usable = [c for c in candidates if c.available]
    return sum(
        n * sum(shift not in c.busy_shifts for c in usable)
        for shift, n in Counter(s.shift for s in slots).items()
    )


def solve_dense(
    slots: Sequence[Slot],
    candidates: Sequence[Candidate],
    weights: Weights,
    *,
    lead: Mapping[str, frozenset[int]] | None = None,
) -> Optimum:
    """The max-fill, then min-cost assignment over every eligible pair, per shift."""
    started = time.process_time()
    if lead is None:
        lead = lead_teams(slots, candidates, weights=weights)
    lat = np.radians(np.array([c.lat for c in candidates], dtype=np.float64))
    lon = np.radians(np.array([c.lon for c in candidates], dtype=np.float64))
    hours = np.array([c.recent_hours for c in candidates], dtype=np.float64)
    team = np.array([-1 if c.team_id is None else c.team_id for c in candidates], dtype=np.int64)
    usable = np.array([c.available for c in candidates], dtype=np.bool_)
    usable &= np.isfinite(lat) & np.isfinite(lon) & np.isfinite(hours)
    filled, total, size = 0, 0.0, 0
    for shift in sorted({s.shift for s in slots}):
        rows = [s for s in slots if s.shift == shift]
        free = usable & np.array([shift not in c.busy_shifts for c in candidates], dtype=np.bool_)
        has = {
            need: free
            & np.array(
                [
                    need <= c.skills and not any((k, shift) in c.lapsed for k in need)
                    for c in candidates
                ],
                dtype=np.bool_,
            )
            for need in {s.skills for s in rows}
        }
        cols = np.flatnonzero(np.logical_or.reduce(list(has.values())))
        if cols.size == 0:
            continue
        matrix, low, high = _costs(rows, cols, lat, lon, hours, team, has, weights, lead)
        # more than any difference between two sums of at most len(rows) real costs
        big = len(rows) * (abs(high) + abs(low) + 1.0) + 1.0
        for block in np.array_split(matrix, max(1, len(rows) // _ROWS)):
            block[np.isnan(block)] = big
        r, c = linear_sum_assignment(matrix)
        picked = matrix[r, c]
        ok = picked < big
        filled += int(ok.sum())
        total += float(picked[ok].sum())
        size += matrix.size
        del matrix
    return Optimum(filled, total, size, time.process_time() - started)


def solve_dense_elsewhere(
    slots: Sequence[Slot], candidates: Sequence[Candidate], weights: Weights
) -> Optimum:
    """`solve_dense` in a child process, so its matrix (8 bytes a cell) is not counted in the
    benchmark's own peak memory."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(solve_dense, list(slots), list(candidates), weights).result()


def _costs(
    rows: list[Slot],
    cols: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    hours: np.ndarray,
    team: np.ndarray,
    has: dict[frozenset[str], np.ndarray],
    weights: Weights,
    lead: Mapping[str, frozenset[int]],
) -> tuple[np.ndarray, float, float]:
    """rows × cols costs, NaN where the volunteer may not take the slot; the least and the
    greatest real cost."""
    out = np.empty((len(rows), cols.size), dtype=np.float64)
    clat, clon = lat[cols], lon[cols]
    cos_clat = np.cos(clat)
    fairness = weights.hour * hours[cols]
    cteam = team[cols]
    low, high = math.inf, -math.inf
    for start in range(0, len(rows), _ROWS):
        chunk = rows[start : start + _ROWS]
        slat = np.radians(np.array([s.lat for s in chunk]))[:, None]
        slon = np.radians(np.array([s.lon for s in chunk]))[:, None]
        a = (
            np.sin((clat - slat) / 2) ** 2
            + np.cos(slat) * cos_clat * np.sin((clon - slon) / 2) ** 2
        )
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
        block = out[start : start + len(chunk)]
        np.multiply(km, weights.km, out=block)
        block += fairness
        for n, s in enumerate(chunk):
            teams = lead.get(s.slot_id)
            if s.team_task and teams and weights.team_bonus:
                block[n, np.isin(cteam, list(teams))] -= weights.team_bonus
            block[n, ~has[s.skills][cols]] = np.nan
        if not np.isnan(block).all():
            low, high = min(low, float(np.nanmin(block))), max(high, float(np.nanmax(block)))
    return out, (low if math.isfinite(low) else 0.0), (high if math.isfinite(high) else 0.0)


def total(matches: Sequence[Match]) -> float:
    return sum(m.cost for m in matches)


def gap(cost: float, optimum: Optimum) -> float:
    """How far above the optimum `cost` is, as a fraction of the optimum's magnitude."""
    return (cost - optimum.cost) / abs(optimum.cost) if optimum.cost else 0.0


def shown(fraction: float) -> str:
    """A gap as a signed percentage; below the last digit shown (the solver's integer metres
    can put it a hair under the floating-point optimum) it reads +0.000 %."""
    return f"{0.0 if abs(fraction) < 5e-6 else fraction:+.3%}"
