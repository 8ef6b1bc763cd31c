"""Slot groups (identical slots of one task: one flow node) and the lead teams of team tasks."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from coordinator.dispatch.matching.model import DEFAULT_WEIGHTS, Candidate, Slot, Weights
from coordinator.dispatch.matching.pool import (
    BRUTE_MAX_QUERIES,
    REBUILD_AFTER,
    BoolArray,
    CandidatePool,
    FloatArray,
    IntArray,
    Nearest,
    as_pool,
    chord_to_km,
    unit_vectors,
)
from coordinator.geo.service import EARTH_RADIUS_KM


@dataclass
class Group:
    """Identical slots of one task: one flow node with capacity len(slots)."""

    slots: list[Slot]
    point: FloatArray
    #: team codes chosen to staff this team task (see `_choose_lead_teams`)
    lead: tuple[int, ...] = ()
    #: per team code, the discount a member gets here: team_bonus for the lead teams
    discount: FloatArray | None = None
    cand: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    dist: FloatArray = field(default_factory=lambda: np.empty(0, np.float64))
    cost: FloatArray = field(default_factory=lambda: np.empty(0, np.float64))

    @property
    def head(self) -> Slot:
        return self.slots[0]


def check_slots(slots: Sequence[Slot]) -> None:
    ids = [s.slot_id for s in slots]
    if len(set(ids)) != len(ids):
        raise ValueError("slot ids must be unique")
    for s in slots:
        if not (math.isfinite(s.lat) and math.isfinite(s.lon)):
            raise ValueError(f"slot {s.slot_id} has no valid location ({s.lat}, {s.lon})")


def make_groups(slots: Sequence[Slot], pool: CandidatePool, weights: Weights) -> list[Group]:
    by_key: dict[tuple[object, ...], list[Slot]] = {}
    for s in slots:
        key = (s.task_id, s.lat, s.lon, s.skills, s.shift, s.team_task)
        by_key.setdefault(key, []).append(s)
    heads = [members[0] for members in by_key.values()]
    points = unit_vectors(np.array([h.lat for h in heads]), np.array([h.lon for h in heads]))
    groups = [Group(members, points[n]) for n, members in enumerate(by_key.values())]
    if weights.team_bonus > 0 and pool.team_ids.size:
        _choose_lead_teams(pool, groups, weights)
    return groups


#: how many of the cheapest eligible team members (per slot) a team task looks among
_TEAM_LOOKAHEAD = 12


def _team_score(
    left: int, item: tuple[int, tuple[list[int], list[float]]]
) -> tuple[int, float, int]:
    """Most of the `left` slots covered, then the least cost of covering them."""
    code, (rows, sums) = item
    n = min(left, len(rows))
    return -n, sums[n - 1], code


def _choose_lead_teams(pool: CandidatePool, groups: list[Group], weights: Weights) -> None:
    """Pick the teams that staff each team task: as few as possible, near ones first.

    "As few teams as possible" is a fixed charge per team, which a min-cost flow cannot
    express, so it is decided here, before the flow, as a greedy set cover: among the teams
    with members close by (the task's cheapest eligible team members), take the one that
    can field the most of the task, the cheaper on a tie; repeat for the rest. A team needs
    two free members to count (a lone member is no team), unless one slot is left. Bigger
    tasks choose first; a member chosen for one task is not counted again in that shift.
    The flow then gives lead-team members `team_bonus` off their cost on that task."""
    order = sorted(
        (gi for gi, g in enumerate(groups) if g.head.team_task),
        key=lambda gi: -len(groups[gi].slots),
    )
    reserved: dict[str, BoolArray] = {}
    reserved_count: dict[str, int] = {}
    per_need = Counter((groups[gi].head.skills, groups[gi].head.shift) for gi in order)
    # per need: free team members when its index was built, the index, the shift's count then
    index: dict[tuple[frozenset[str], str], tuple[IntArray, Nearest, int]] = {}
    emb = pool.embedding(weights)
    for gi in order:
        g = groups[gi]
        head = g.head
        need = (head.skills, head.shift)
        taken = reserved.setdefault(head.shift, np.zeros(pool.size, dtype=np.bool_))
        count = reserved_count.get(head.shift, 0)
        built = index.get(need)
        if built is None or count - built[2] >= REBUILD_AFTER:
            alive = np.flatnonzero(pool.eligible_mask(*need) & (pool.team_code >= 0) & ~taken)
            built = alive, Nearest(emb[alive], brute=per_need[need] <= BRUTE_MAX_QUERIES), count
            index[need] = built
        alive, nearest, base = built
        if alive.size == 0:
            continue
        look = _TEAM_LOOKAHEAD * len(g.slots)
        # at most count - base of the hits were reserved since the index was built
        _, pos = nearest.query(probe(g, weights), min(alive.size, look + count - base))
        members = alive[pos]
        members = members[~taken[members]][:look]
        if members.size == 0:
            continue
        km = chord_to_km(np.linalg.norm(pool.xyz[members] - g.point, axis=1))
        cost = weights.km * km + weights.hour * pool.hours[members]
        near = np.argsort(cost, kind="stable")
        # per team, its members here cheapest first and the running sum of their costs
        by_team: dict[int, tuple[list[int], list[float]]] = {}
        codes = pool.team_code[members[near]].tolist()
        for j, code, c in zip(near.tolist(), codes, cost[near].tolist(), strict=True):
            rows, sums = by_team.setdefault(code, ([], []))
            rows.append(j)
            sums.append(c + (sums[-1] if sums else 0.0))
        left, lead = len(g.slots), []
        while left > 0 and by_team:
            code, (rows, _) = min(by_team.items(), key=partial(_team_score, left))
            covered = min(left, len(rows))
            if covered < min(2, left):
                break
            lead.append(code)
            taken[members[rows[:covered]]] = True
            reserved_count[head.shift] = reserved_count.get(head.shift, 0) + covered
            left -= covered
            del by_team[code]
        if lead:
            g.lead = tuple(lead)
            g.discount = np.zeros(pool.team_ids.size)
            g.discount[list(lead)] = weights.team_bonus


def probe(g: Group, weights: Weights) -> FloatArray:
    """The group's point in the space of `CandidatePool.embedding` (zero hours: the ideal)."""
    return np.append(g.point * (EARTH_RADIUS_KM * weights.km), 0.0)


def in_lead(pool: CandidatePool, g: Group, i: int) -> bool:
    return int(pool.team_code[i]) in g.lead


def lead_teams(
    slots: Sequence[Slot],
    candidates: Iterable[Candidate] | CandidatePool,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
) -> dict[str, frozenset[int]]:
    """The teams `solve` would favour on each team-task slot (slot id → team ids); slots
    without a lead team are absent. Their members get `weights.team_bonus` off their cost."""
    slots = list(slots)
    check_slots(slots)
    pool = as_pool(candidates)
    if not slots or pool.size == 0:
        return {}
    return {
        s.slot_id: frozenset(int(pool.team_ids[c]) for c in g.lead)
        for g in make_groups(slots, pool, weights)
        if g.lead
        for s in g.slots
    }
