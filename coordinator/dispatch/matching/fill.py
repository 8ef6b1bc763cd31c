"""Widening the sparse graph until its flow fills as many slots as the full eligibility can."""

from __future__ import annotations

from collections import deque

import numpy as np

from coordinator.dispatch.matching.graph import (
    add_arc,
    by_need,
    holders_by_shift,
    reserve_and_link,
)
from coordinator.dispatch.matching.groups import Group
from coordinator.dispatch.matching.model import Weights
from coordinator.dispatch.matching.pool import CandidatePool, arc_costs


def add_free_arcs(
    pool: CandidatePool,
    groups: list[Group],
    chosen: list[list[tuple[int, float, float]]],
    short: list[int],
    k: int,
    weights: Weights,
) -> bool:
    """Widen the short groups towards volunteers still free in their shift (reserving as many
    as each is short). Every such arc is an augmenting path, so the next flow fills more.
    False when no short group has a free eligible volunteer."""
    holder = holders_by_shift(pool, groups, chosen)
    added = False
    for (skills, shift), members in by_need(groups, short).items():
        held = holder.get(shift)
        free = pool.eligible_mask(skills, shift)
        if held is not None:
            free = free & (held < 0)
        missing = [len(groups[gi].slots) - len(chosen[gi]) for gi in members]
        added |= reserve_and_link(pool, groups, members, missing, np.flatnonzero(free), k, weights)
    return added


def add_augmenting_arcs(
    pool: CandidatePool,
    groups: list[Group],
    chosen: list[list[tuple[int, float, float]]],
    short: list[int],
    weights: Weights,
) -> bool:
    """Search alternating paths over full eligibility from the short groups (Berge): short
    group → eligible volunteer held by group B → a volunteer eligible for B … → a free volunteer.
    Adds the arcs of every path found to the sparse graph; False when there is none, which
    proves the current fill is the maximum. Paths never leave a shift, so search per shift."""
    found = False
    by_shift: dict[str, list[int]] = {}
    for gi in short:
        by_shift.setdefault(groups[gi].head.shift, []).append(gi)
    holders = holders_by_shift(pool, groups, chosen)
    for shift, starts in by_shift.items():
        holder = holders.get(shift, np.full(pool.size, -1, dtype=np.int64))
        parent: dict[int, tuple[int, int]] = {}
        visited = set(starts)
        queue = deque(starts)
        while queue:
            gi = queue.popleft()
            g = groups[gi]
            elig = np.flatnonzero(pool.eligible_mask(g.head.skills, shift))
            held_by = holder[elig]
            free = elig[held_by < 0]
            if free.size:
                km = pool.distance_km(free, g.head.lat, g.head.lon)
                near = free[np.argmin(arc_costs(pool, free, km, weights, g.discount))]
                holder[near] = gi  # another path must find another free volunteer
                add_arc(pool, g, int(near), weights)
                child = gi
                while child in parent:
                    up, via = parent[child]
                    add_arc(pool, groups[up], via, weights)
                    child = up
                found = True
                continue
            nxt, first = np.unique(held_by, return_index=True)
            for g2, pos in zip(nxt.tolist(), first.tolist(), strict=True):
                if g2 not in visited:
                    visited.add(g2)
                    parent[g2] = (gi, int(elig[pos]))
                    queue.append(g2)
    return found
