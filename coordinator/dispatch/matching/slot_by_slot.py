"""One slot at a time: `refill` after a decline or expiry, and `greedy`, the baseline."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
from scipy.spatial import cKDTree

from coordinator.dispatch.matching.groups import check_slots, in_lead, make_groups
from coordinator.dispatch.matching.model import DEFAULT_WEIGHTS, Candidate, Match, Slot, Weights
from coordinator.dispatch.matching.pool import (
    REBUILD_AFTER,
    BoolArray,
    CandidatePool,
    FloatArray,
    IntArray,
    arc_costs,
    as_pool,
    chord_to_km,
    make_match,
)


# -- one slot at a time ------------------------------------------------------------------------
def refill(
    slot: Slot,
    candidates: Iterable[Candidate] | CandidatePool,
    *,
    exclude: Collection[int],
    busy: Mapping[int, Collection[str]] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    prefer_teams: Collection[int] | None = None,
) -> Match | None:
    """The cheapest eligible volunteer for one slot (after a decline or an expiry), or None.

    `exclude`: volunteers never to offer this slot again (declined, expired, already in it).
    `busy`: shifts volunteers hold now beyond their `busy_shifts` (volunteer id → shift keys).
    On a team task, members of `prefer_teams` (pass the teams already working it) get the team
    bonus, as lead teams do in `solve`. One vectorised pass, no re-solve.
    """
    if not (math.isfinite(slot.lat) and math.isfinite(slot.lon)):
        raise ValueError(f"slot {slot.slot_id} has no valid location ({slot.lat}, {slot.lon})")
    pool = as_pool(candidates)
    if pool.size == 0:
        return None
    mask = pool.eligible_mask(slot.skills, slot.shift).copy()
    if exclude:
        mask &= ~np.isin(pool.ids, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
    if busy:
        taken = [vid for vid, shifts in busy.items() if slot.shift in shifts]
        if taken:
            mask &= ~np.isin(pool.ids, np.array(taken, dtype=np.int64))
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    dist = pool.distance_km(idx, slot.lat, slot.lon)
    discount: FloatArray | None = None
    if slot.team_task and prefer_teams and weights.team_bonus > 0 and pool.team_ids.size:
        wanted = np.isin(pool.team_ids, np.fromiter(prefer_teams, dtype=np.int64))
        discount = np.where(wanted, weights.team_bonus, 0.0)
    cost = arc_costs(pool, idx, dist, weights, discount)
    best = int(np.argmin(cost))
    i = int(idx[best])
    code = int(pool.team_code[i])
    lead = discount is not None and code >= 0 and bool(discount[code] > 0)
    return make_match(pool, i, slot, float(dist[best]), float(cost[best]), lead)


# -- the baseline ------------------------------------------------------------------------------
def greedy(
    slots: Sequence[Slot],
    candidates: Iterable[Candidate] | CandidatePool,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Match]:
    """Baseline: slot by slot in the given order, the nearest eligible volunteer still free in
    that shift. Costs use the same formula as `solve`, so totals compare."""
    slots = list(slots)
    check_slots(slots)
    pool = as_pool(candidates)
    if not slots or pool.size == 0:
        return []
    group_of = {s.slot_id: g for g in make_groups(slots, pool, weights) for s in g.slots}
    taken: dict[str, BoolArray] = {}
    taken_count: dict[str, int] = {}
    # per need: the eligible volunteers not yet taken when its tree was built, the tree, and
    # the shift's taken count then (so a query knows how many stale hits it may meet)
    trees: dict[tuple[frozenset[str], str], tuple[IntArray, cKDTree | None, int]] = {}
    matches: list[Match] = []
    for slot in slots:
        g = group_of[slot.slot_id]
        used = taken.setdefault(slot.shift, np.zeros(pool.size, dtype=np.bool_))
        count = taken_count.get(slot.shift, 0)
        need = (slot.skills, slot.shift)
        alive, tree, built_at = trees.get(need, (np.empty(0, np.int64), None, -1))
        if built_at < 0 or count - built_at >= REBUILD_AFTER:
            alive = np.flatnonzero(pool.eligible_mask(slot.skills, slot.shift) & ~used)
            tree = cKDTree(pool.xyz[alive]) if alive.size else None
            trees[need] = alive, tree, built_at = alive, tree, count
        if tree is None:
            continue
        chord, pos = tree.query(g.point, k=min(alive.size, 1 + count - built_at))
        near = alive[np.atleast_1d(pos)]
        free = np.flatnonzero(~used[near])
        if free.size == 0:
            continue
        j = int(free[0])
        i = int(near[j])
        used[i] = True
        taken_count[slot.shift] = count + 1
        idx = near[j : j + 1]
        dist = chord_to_km(np.atleast_1d(chord)[j : j + 1])
        cost = float(arc_costs(pool, idx, dist, weights, g.discount)[0])
        matches.append(make_match(pool, i, slot, float(dist[0]), cost, in_lead(pool, g, i)))
    return matches
