"""The sparse graph: which volunteers each slot group gets an arc to."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.spatial import cKDTree

from coordinator.dispatch.matching.groups import Group, probe
from coordinator.dispatch.matching.model import Weights
from coordinator.dispatch.matching.pool import (
    BRUTE_MAX_QUERIES,
    REBUILD_AFTER,
    CandidatePool,
    FloatArray,
    IntArray,
    Nearest,
    arc_costs,
    chord_to_km,
)


def add_arcs(
    pool: CandidatePool, g: Group, idx: IntArray, dist: FloatArray, weights: Weights
) -> None:
    """Give the group arcs to the candidates `idx` (at `dist` km), keeping those it had."""
    if g.cand.size:
        idx, keep = np.unique(np.concatenate((g.cand, idx)), return_index=True)
        dist = np.concatenate((g.dist, dist))[keep]
    g.cand, g.dist = idx, dist
    g.cost = arc_costs(pool, idx, dist, weights, g.discount)


def holders_by_shift(
    pool: CandidatePool, groups: list[Group], chosen: list[list[tuple[int, float, float]]]
) -> dict[str, IntArray]:
    """Per shift, which group holds each candidate (-1: free in that shift)."""
    holder: dict[str, IntArray] = {}
    for gi, g in enumerate(groups):
        if chosen[gi]:
            held = holder.setdefault(g.head.shift, np.full(pool.size, -1, dtype=np.int64))
            held[[i for i, _, _ in chosen[gi]]] = gi
    return holder


def by_need(
    groups: list[Group], members: Iterable[int]
) -> dict[tuple[frozenset[str], str], list[int]]:
    """Group indices by what they need: (skills, shift)."""
    out: dict[tuple[frozenset[str], str], list[int]] = {}
    for gi in members:
        out.setdefault((groups[gi].head.skills, groups[gi].head.shift), []).append(gi)
    return out


def reserve_and_link(
    pool: CandidatePool,
    groups: list[Group],
    members: list[int],
    needs: list[int],
    idx: IntArray,
    k: int,
    weights: Weights,
    tree: cKDTree | None = None,
) -> bool:
    """Give each group (all of one skills+shift need) arcs to its nearest volunteers of `idx`,
    whoever else may want them, and to `need` more *reserved* for it alone.

    Nearest-K from each slot alone breaks down where demand is dense: neighbouring slots all
    see the same few volunteers and the graph holds too few distinct people to fill them.
    Reserving distinct volunteers puts a complete assignment (where one exists among `idx`)
    into the graph, so one flow fills what can be filled. The need + k nearest come from an
    index of all of `idx`, never pruned: a volunteer reserved by an earlier group is often
    the best arc of this one too (issue 17: pruning them from the shared lists cost 22 % on
    dense demand). Only the reservations look in an index of the unreserved, rebuilt every
    `REBUILD_AFTER` reservations. `tree`: a KD-tree over the embedding of `idx`, if one is
    built already. False when `idx` is empty."""
    if idx.size == 0:
        return False
    emb = pool.embedding(weights)
    # a tree pays off only over many queries; a few groups measure every distance directly
    everyone = Nearest(emb[idx], brute=len(members) <= BRUTE_MAX_QUERIES, tree=tree)
    alive, unreserved = idx, everyone
    taken = np.zeros(pool.size, dtype=np.bool_)
    since = 0  # reservations made since `unreserved` was built: at most this many stale hits
    for gi, need in zip(members, needs, strict=True):
        g = groups[gi]
        point = probe(g, weights)
        _, pos = everyone.query(point, min(idx.size, need + k))
        near = idx[pos]
        if since >= REBUILD_AFTER:
            alive = alive[~taken[alive]]
            unreserved, since = Nearest(emb[alive], brute=everyone.brute), 0
        if alive.size:
            _, pos = unreserved.query(point, min(alive.size, need + k + since))
            fresh = alive[pos]
            fresh = fresh[~taken[fresh]]
            taken[fresh[:need]] = True
            since += min(need, fresh.size)
            # the reserved and the next k not reserved, beside the nearest
            near = np.union1d(near, fresh[: need + k])
        km = chord_to_km(np.linalg.norm(pool.xyz[near] - g.point, axis=1))
        add_arcs(pool, g, near, km, weights)
    teams = [(gi, need) for gi, need in zip(members, needs, strict=True) if groups[gi].lead]
    if teams:
        _link_teams(pool, groups, teams, idx, k, weights)
    return True


def _link_teams(
    pool: CandidatePool,
    groups: list[Group],
    teams: list[tuple[int, int]],
    idx: IntArray,
    k: int,
    weights: Weights,
) -> None:
    """Arcs from each team-task group to every member of `idx` in its lead teams, so the
    flow can staff the task with whole teams however far down a nearest list they are."""
    members = idx[pool.team_code[idx] >= 0]
    members = members[np.argsort(pool.team_code[members], kind="stable")]
    codes = pool.team_code[members]
    for gi, _ in teams:
        g = groups[gi]
        lead = np.array(g.lead, dtype=np.int64)
        lo, hi = np.searchsorted(codes, lead), np.searchsorted(codes, lead + 1)
        near = np.concatenate([members[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)])
        if near.size:
            km = chord_to_km(np.linalg.norm(pool.xyz[near] - g.point, axis=1))
            add_arcs(pool, g, near, km, weights)


def add_arc(pool: CandidatePool, g: Group, i: int, weights: Weights) -> None:
    if np.any(g.cand == i):
        return
    idx = np.array([i], dtype=np.int64)
    d = pool.distance_km(idx, g.head.lat, g.head.lon)
    g.cand = np.append(g.cand, idx)
    g.dist = np.append(g.dist, d)
    g.cost = np.append(g.cost, arc_costs(pool, idx, d, weights, g.discount))
