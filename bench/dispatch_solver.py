"""`nuanliu bench dispatch-solver`: the matching alone, on a generated Guiyang-sized emergency.

20,000 volunteers spread over Guiyang's ten districts like the demo roster (shares, radii and
skill frequencies of coordinator/demo), 5,000 slots of an ice-storm day (de-icing teams, checks
on elderly people living alone, traffic points, first aid) over three shifts. The min-cost-flow
solver runs next to the greedy nearest-volunteer baseline on the same instance, in this process,
and both are compared with the dense optimum (`bench/dense_optimum.py`: every eligible pair,
scipy's assignment solver per shift, none of the solver's code), computed in a child process
after the timings. Goals (printed, never asserted): gap to the optimum ≤ 0.1 %, solver under
1 s, cost ≥ 10 % below greedy, refill under 50 ms, memory under 1 GiB. The load average is
printed beside the figures: on a shared machine, times scale with it.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from bench import dense_optimum
from coordinator.dispatch.matching import (
    Candidate,
    CandidatePool,
    Match,
    Slot,
    Weights,
    greedy,
    refill,
    solve,
)

SEED = 20140105
SHIFTS = ("2014-01-05T08", "2014-01-05T14", "2014-01-05T20")
#: as in coordinator/demo: who has which skill
SKILLS = ("de_icing", "elderly_care", "first_aid", "driving", "traffic", "legal_aid", "logistics")
SKILL_SHARE = (0.55, 0.35, 0.15, 0.12, 0.2, 0.05, 0.2)
#: task kinds of an ice-storm day: (skills, fewest slots, most slots, share of tasks, team task)
TASK_KINDS = (
    (frozenset({"de_icing"}), 4, 12, 0.30, True),
    (frozenset({"de_icing"}), 2, 6, 0.20, False),
    (frozenset({"elderly_care"}), 1, 2, 0.30, False),
    (frozenset({"traffic"}), 2, 4, 0.12, False),
    (frozenset({"first_aid"}), 1, 2, 0.08, False),
)
TEAM_SIZE = 12

T = TypeVar("T")


def _districts() -> list[dict[str, Any]]:
    text = (resources.files("coordinator") / "demo" / "guiyang.json").read_text(encoding="utf-8")
    data = json.loads(text)
    for d in data["districts"]:
        d["share"] = data["volunteer_share"][d["code"]]
    return list(data["districts"])


def _scatter(
    rng: np.random.Generator, districts: list[dict[str, Any]], which: np.ndarray, spread: float
) -> tuple[np.ndarray, np.ndarray]:
    lat0 = np.array([d["lat"] for d in districts])[which]
    lon0 = np.array([d["lon"] for d in districts])[which]
    radius = np.array([d["radius_km"] for d in districts])[which] * spread
    r = radius * np.sqrt(rng.random(which.size))
    theta = rng.random(which.size) * 2 * np.pi
    lat = lat0 + r * np.cos(theta) / 111.0
    lon = lon0 + r * np.sin(theta) / (111.0 * np.cos(np.radians(lat0)))
    return lat, lon


def make_city(volunteers: int, slots: int, seed: int = SEED) -> tuple[list[Slot], list[Candidate]]:
    """A repeatable Guiyang-like instance: `slots` task slots and `volunteers` candidates."""
    rng = np.random.default_rng(seed)
    districts = _districts()
    share = np.array([d["share"] for d in districts])
    share /= share.sum()

    home = rng.choice(len(districts), size=volunteers, p=share)
    lat, lon = _scatter(rng, districts, home, 1.0)
    has = rng.random((volunteers, len(SKILLS))) < np.array(SKILL_SHARE)
    hours = np.round(rng.exponential(6.0, volunteers), 1)
    # about 30 % belong to a district team of ~12
    in_team = rng.random(volunteers) < 0.3
    team_no = rng.integers(
        0, max(1, int(volunteers * 0.3 / TEAM_SIZE / len(districts))), volunteers
    )
    busy = rng.random(volunteers) < 0.05
    busy_shift = rng.integers(0, len(SHIFTS), volunteers)
    available = rng.random(volunteers) < 0.9
    at_home = rng.random(volunteers) < 0.8
    candidates = [
        Candidate(
            volunteer_id=i + 1,
            lat=float(lat[i]),
            lon=float(lon[i]),
            skills=frozenset(s for s, h in zip(SKILLS, has[i], strict=True) if h),
            recent_hours=float(hours[i]),
            team_id=int(home[i] * 1000 + team_no[i]) if in_team[i] else None,
            busy_shifts=frozenset({SHIFTS[busy_shift[i]]}) if busy[i] else frozenset(),
            available=bool(available[i]),
            at_home=bool(at_home[i]),
        )
        for i in range(volunteers)
    ]

    kind_share = np.array([k[3] for k in TASK_KINDS])
    out: list[Slot] = []
    task_id = 0
    while len(out) < slots:
        task_id += 1
        skills, low, high, _, team = TASK_KINDS[rng.choice(len(TASK_KINDS), p=kind_share)]
        where = rng.choice(len(districts), size=1, p=share)
        tlat, tlon = _scatter(rng, districts, where, 0.8)
        shift = SHIFTS[rng.integers(len(SHIFTS))]
        for n in range(min(int(rng.integers(low, high + 1)), slots - len(out))):
            out.append(
                Slot(
                    slot_id=f"{task_id}:{n + 1}",
                    task_id=task_id,
                    lat=float(tlat[0]),
                    lon=float(tlon[0]),
                    skills=skills,
                    shift=shift,
                    team_task=team,
                )
            )
    return out, candidates


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _summary(matches: list[Match]) -> tuple[float, float]:
    total = sum(m.cost for m in matches)
    km = sum(m.distance_km for m in matches) / max(1, len(matches))
    return total, km


def run(quick: bool = False) -> None:
    """Generate the city, run solver and greedy, refill 100 slots, print one table."""
    console = Console()
    load_start = os.getloadavg()
    volunteers, slots_needed = (2_000, 500) if quick else (20_000, 5_000)
    slots, candidates = make_city(volunteers, slots_needed)
    console.print(
        f"Guiyang-like city: {len(candidates):,} volunteers, {len(slots):,} slots in "
        f"{len({s.task_id for s in slots}):,} tasks over {len(SHIFTS)} shifts "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: times scale with it)"
    )

    solve(slots[:50], candidates[:500])  # warm up imports and OR-Tools
    cpu = time.process_time()
    solved, t_solve = _timed(lambda: solve(slots, candidates))
    cpu_solve = time.process_time() - cpu
    pool, t_pool = _timed(lambda: CandidatePool(candidates))
    _, t_solve_pool = _timed(lambda: solve(slots, pool))
    cpu = time.process_time()
    base, t_greedy = _timed(lambda: greedy(slots, candidates))
    cpu_greedy = time.process_time() - cpu
    # the same comparison on travel alone: how much of the saving is routing, not fairness
    travel_only = solve(slots, pool, weights=Weights(hour=0.0, team_bonus=0.0))

    # refill: a volunteer declines one slot; everyone else keeps the shift they were given
    held: dict[int, set[str]] = {}
    by_slot = {s.slot_id: s for s in slots}
    for m in solved:
        held.setdefault(m.volunteer_id, set()).add(by_slot[m.slot_id].shift)
    rng = np.random.default_rng(SEED)
    picks = [solved[int(i)] for i in rng.integers(0, len(solved), 100)] if solved else []
    t_list, t_pooled = [], []
    for m in picks:
        slot, exclude = by_slot[m.slot_id], {m.volunteer_id}
        _, t = _timed(lambda: refill(slot, candidates, exclude=exclude, busy=held))  # noqa: B023
        t_list.append(t)
        _, t = _timed(lambda: refill(slot, pool, exclude=exclude, busy=held))  # noqa: B023
        t_pooled.append(t)

    tracemalloc.start()
    solve(slots, candidates)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = psutil.Process().memory_info().rss
    load_measured = os.getloadavg()

    size = dense_optimum.cells(slots, candidates)
    optimum = (
        dense_optimum.solve_dense_elsewhere(slots, candidates, Weights())
        if size <= dense_optimum.MAX_CELLS
        else None
    )

    cost_s, km_s = _summary(solved)
    cost_g, km_g = _summary(base)
    fill_s, fill_g = len(solved) / len(slots), len(base) / len(slots)
    per_s = cost_s / max(1, len(solved))
    per_g = cost_g / max(1, len(base))
    saving = (cost_g - cost_s) / cost_g * 100 if cost_g else 0.0
    saving_per_slot = (per_g - per_s) / per_g * 100 if per_g else 0.0
    refill_list = statistics.median(t_list) if t_list else float("nan")
    refill_pool = statistics.median(t_pooled) if t_pooled else float("nan")

    table = Table(title=f"dispatch solver ({'quick' if quick else 'full'})")
    table.add_column("measure")
    table.add_column("min-cost flow", justify="right")
    table.add_column("greedy nearest", justify="right")
    table.add_row(
        "time, candidate list in", f"{t_solve * 1000:.0f} ms", f"{t_greedy * 1000:.0f} ms"
    )
    table.add_row(
        "CPU time, candidate list in", f"{cpu_solve * 1000:.0f} ms", f"{cpu_greedy * 1000:.0f} ms"
    )
    table.add_row("time, prepared pool in", f"{t_solve_pool * 1000:.0f} ms", "")
    table.add_row("  of which preparing the pool", f"{t_pool * 1000:.0f} ms", "")
    table.add_row("solver time / greedy time", f"{t_solve / t_greedy:.2f}×", "1.00×")
    table.add_row(
        "slots filled", f"{len(solved):,} ({fill_s:.1%})", f"{len(base):,} ({fill_g:.1%})"
    )
    table.add_row("total cost", f"{cost_s:,.0f}", f"{cost_g:,.0f}")
    table.add_row("cost per filled slot", f"{per_s:.2f}", f"{per_g:.2f}")
    table.add_row("mean travel", f"{km_s:.2f} km", f"{km_g:.2f} km")
    table.add_row(
        "mean recent hours of those sent",
        f"{_mean_hours(solved, candidates):.1f} h",
        f"{_mean_hours(base, candidates):.1f} h",
    )
    km_travel = sum(m.distance_km for m in travel_only)
    km_greedy = sum(m.distance_km for m in base)
    table.add_row(
        "total km, solver on travel alone",
        f"{km_travel:,.0f} km ({(km_greedy - km_travel) / max(km_greedy, 1e-9):.1%} less)",
        f"{km_greedy:,.0f} km",
    )
    table.add_row(
        "groups per team task (teams + loners)",
        f"{_cohesion(solved, slots, candidates):.2f}",
        f"{_cohesion(base, slots, candidates):.2f}",
    )
    if optimum is not None:
        table.add_row(
            "dense optimum: fill, cost",
            f"{optimum.filled:,}, {optimum.cost:,.0f}",
            f"{optimum.cells:,} cells, {optimum.seconds:.1f} s",
        )
        table.add_row(
            "gap to the dense optimum",
            _gap(cost_s, len(solved), optimum),
            _gap(cost_g, len(base), optimum),
        )
    else:
        table.add_row("dense optimum", f"not computed: {size:,} cells", "")
    table.add_row("cost saving vs greedy", f"{saving:.1f} % ({saving_per_slot:.1f} % per slot)", "")
    table.add_row("refill one slot, median of 100", f"{refill_list * 1000:.1f} ms (list)", "")
    table.add_row("", f"{refill_pool * 1000:.2f} ms (pool)", "")
    table.add_row("peak traced memory in solve", f"{peak / 2**20:.0f} MiB", "")
    table.add_row("process RSS", f"{rss / 2**20:.0f} MiB", "")
    table.add_row("load 1/5/15 min at start", _load(load_start), "")
    table.add_row("  after the timings", _load(load_measured), "")
    console.print(table)

    goals = Table(title="goals (printed, not asserted)")
    goals.add_column("goal")
    goals.add_column("measured", justify="right")
    goals.add_column("met")
    gap_s = (
        dense_optimum.gap(cost_s, optimum)
        if optimum is not None and optimum.filled == len(solved)
        else math.nan
    )
    gap_text = dense_optimum.shown(gap_s) if not math.isnan(gap_s) else "not computed"
    if optimum is not None and math.isnan(gap_s):
        gap_text = f"fills {len(solved):,}, not {optimum.filled:,}"
    for goal, measured, met in (
        (
            "gap to the dense optimum ≤ 0.1 %",
            gap_text,
            gap_s <= 0.001,
        ),
        # judged on CPU time: the solver is single-threaded, so on an idle machine wall time
        # equals it, and on this shared one wall time mostly measures the neighbours
        (
            "solver under 1 s (CPU)",
            f"{cpu_solve:.2f} s CPU, {t_solve:.2f} s wall",
            cpu_solve < 1.0,
        ),
        ("cost ≥ 10 % below greedy", f"{saving:.1f} %", saving >= 10.0),
        ("refill under 50 ms", f"{refill_list * 1000:.1f} ms", refill_list < 0.05),
        ("fill at least greedy's", f"{len(solved)} vs {len(base)}", len(solved) >= len(base)),
        ("memory under 1 GiB (RSS)", f"{rss / 2**20:.0f} MiB", rss < 2**30),
    ):
        goals.add_row(goal, measured, "[green]yes[/]" if met else "[red]no[/]")
    console.print(goals)


def _gap(cost: float, filled: int, optimum: dense_optimum.Optimum) -> str:
    if filled != optimum.filled:
        return f"fills {filled:,}, not {optimum.filled:,}"
    return dense_optimum.shown(dense_optimum.gap(cost, optimum))


def _load(load: tuple[float, float, float]) -> str:
    return f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} ({os.cpu_count()} CPUs)"


def _cohesion(matches: list[Match], slots: list[Slot], candidates: list[Candidate]) -> float:
    """On team tasks, the mean number of separate groups sent: each team counts once, each
    volunteer without a team counts alone (1.0 would be one whole team per task)."""
    team_of = {c.volunteer_id: c.team_id for c in candidates}
    team_tasks = {s.task_id for s in slots if s.team_task}
    sent: dict[int, list[int | None]] = {}
    for m in matches:
        if m.task_id in team_tasks:
            sent.setdefault(m.task_id, []).append(team_of[m.volunteer_id])
    units = [len({t for t in v if t is not None}) + v.count(None) for v in sent.values()]
    return sum(units) / max(1, len(units))


def _mean_hours(matches: list[Match], candidates: list[Candidate]) -> float:
    hours = {c.volunteer_id: c.recent_hours for c in candidates}
    return sum(hours[m.volunteer_id] for m in matches) / max(1, len(matches))
