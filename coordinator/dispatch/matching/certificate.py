"""The certificate that the sparse graph's optimum is the dense problem's optimum.

After the flow, every eligible (group, volunteer) pair left out of the sparse graph is priced
against the flow's node potentials (its duals); an excluded arc with a negative reduced cost
is one the optimum may need, so it is added and the flow runs again, until there is none.

Why that is enough. The flow `solve` has at this point fills as many slots as the *full*
eligibility can (`fill` proved it: no alternating path over every eligible pair), and it is
a min-cost flow of that value on the sparse graph, so the sparse residual network has no
negative cycle. Shortest-path distances in that residual network (from a virtual root with a
0-cost arc to every node, by Bellman-Ford) are potentials p with c(x, y) + p(x) − p(y) ≥ 0 on
every residual arc. The dense residual network differs from the sparse one only by the
excluded arcs group → volunteer (cost c, capacity 1, no flow) and, for a volunteer in no arc
yet, a node with a free arc to the sink; such a node can take p(sink), the least its own free
arc allows (and so can a free volunteer already in the graph: its arc to the sink is its only
way out, so lowering it to p(sink) keeps p feasible and prices every arc into it higher). If
every excluded arc has c + p(group) − p(volunteer) ≥ 0, the same p is feasible
on the dense residual network, so it has no negative cycle either: no flow of the same value
is cheaper. And no flow of a larger value exists. So the sparse flow is a max-fill, then
min-cost optimum of the dense problem.

How the max-fill priority enters. Reduced costs alone certify "cheapest among flows of this
value", not "largest value": an augmenting path source → short group → excluded arc → free
volunteer → sink can have any reduced cost. Hence the order in `solve`: first the fill is made
the dense maximum (`fill`), then the certificate prices cost only. Arcs it adds cannot lower
the fill (the graph only grows, the flow is a max flow), nor raise it past the dense maximum,
so the fill stays proven. (A big-M arc sink → source would fold both checks into one, but M
would have to dominate every sum of real costs; see the package docstring.)

Why not OR-Tools' own duals: `SimpleMinCostFlow` does not expose its potentials. They are
recomputed from the residual network by Bellman-Ford (negative arc costs rule Dijkstra out),
in numpy, a round per vectorised pass over the arcs out of the nodes the last round lowered:
5-20 ms on the bench instances, where scipy's `csgraph.bellman_ford`, which makes all N passes
over all arcs, took 0.5-5 s. The network is only the sparse graph's (groups and the
volunteers in some arc), so the rounds stay few.

The check covers the full eligibility without building the dense matrix. A negative reduced
cost needs a cost below p(volunteer) − p(group) ≤ p(sink) − p(group) (a volunteer holding a
slot sits at or below p(sink) too: the sink's arc back to it), and a volunteer's distance from
the group's probe in the cost space of `CandidatePool.embedding` is never more than its cost
plus the group's discount; so one KD-tree ball query per group (a tree per need, cached on the
pool) returns every volunteer that could violate (about 120 per group on the full bench city,
thousands where the optimum sends people far, as on bench dispatch's hotspots). Those are priced
exactly, vectorised, with the same integer costs the flow minimises: the certificate is exact
in those integers (metres by default), not a floating-point guess. Groups go through in chunks
of at most `_CELLS` possible pairs, so memory stays bounded however wide a ball is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from coordinator.dispatch.matching.flow import Flow, int_costs
from coordinator.dispatch.matching.graph import add_arcs, by_need
from coordinator.dispatch.matching.groups import Group, probe
from coordinator.dispatch.matching.model import Weights
from coordinator.dispatch.matching.pool import (
    BoolArray,
    CandidatePool,
    FloatArray,
    IntArray,
    chord_to_km,
)

#: (group, eligible volunteer) pairs looked at in one chunk: about 100 MB of temporaries at worst
_CELLS = 1 << 20


@dataclass(frozen=True)
class Potentials:
    """Shortest-path distances in the flow's residual network (integer cost units)."""

    #: per group
    group: IntArray
    #: per (volunteer, shift) node of the flow, in `Flow.vs_key` order
    vs: IntArray
    sink: int


def potentials(flow: Flow) -> Potentials:
    """Bellman-Ford from a virtual root on the residual network of `flow`."""
    n_groups, n_vs = flow.capacity.size, flow.vs_key.size
    source, sink, first_group, first_vs = 0, 1, 2, 2 + n_groups
    root = first_vs + n_vs
    groups = np.arange(n_groups)
    short, busy = flow.filled < flow.capacity, flow.filled > 0
    vs_used = np.bincount(flow.vs_of_arc[flow.used], minlength=n_vs) > 0
    vs = np.arange(n_vs)
    g_node, v_node = first_group + flow.group, first_vs + flow.vs_of_arc
    used = flow.used
    tails = np.concatenate(
        (
            np.full(int(short.sum()), source),  # source → group with room
            first_group + groups[busy],  # group → source: flow can be taken back
            g_node[~used],  # group → volunteer, unused arcs
            v_node[used],  # volunteer → group, arcs carrying flow
            first_vs + vs[~vs_used],  # free volunteer → sink
            np.full(int(vs_used.sum()), sink),  # sink → volunteer with a slot
        )
    )
    heads = np.concatenate(
        (
            first_group + groups[short],
            np.full(int(busy.sum()), source),
            v_node[~used],
            g_node[used],
            np.full(int((~vs_used).sum()), sink),
            first_vs + vs[vs_used],
        )
    )
    costs = np.zeros(tails.size, dtype=np.int64)
    middle = int(short.sum() + busy.sum())
    n_unused = int((~used).sum())
    costs[middle : middle + n_unused] = flow.int_cost[~used]
    costs[middle + n_unused : middle + used.size] = -flow.int_cost[used]
    dist = shortest_distances(root, tails, heads, costs)
    p_sink, p_vs = int(dist[sink]), dist[first_vs:root].copy()
    # A free volunteer's only way out is its arc to the sink, so any potential between
    # p(sink) and its shortest distance is feasible; the least, p(sink), makes every arc into
    # it price highest (fewer arcs to add) and puts every volunteer of the shift at or below
    # p(sink) (one narrow ball per group in the check: see `_screen`).
    p_vs[~vs_used] = p_sink
    return Potentials(dist[first_group:first_vs], p_vs, p_sink)


def shortest_distances(n: int, tails: IntArray, heads: IntArray, costs: IntArray) -> IntArray:
    """Bellman-Ford from a virtual root with a 0-cost arc to each of the n nodes: every node
    starts at 0, and each round relaxes, in one vectorised pass, only the arcs out of the
    nodes the round before lowered. Rounds: the most arcs on a shortest path (12-27 on the
    bench instances). Raises RuntimeError on a negative cycle (the flow was not optimal)."""
    order = np.argsort(tails, kind="stable")
    tails, heads, costs = tails[order], heads[order], costs[order]
    first = np.searchsorted(tails, np.arange(n + 1))
    dist = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    for _ in range(n + 1):
        lo, count = first[active], first[active + 1] - first[active]
        total = int(count.sum())
        if total == 0:
            return dist
        # the arcs out of the active nodes: each node's run lo, lo + 1, …, lo + count - 1
        arc = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(total)
        reach, head = dist[tails[arc]] + costs[arc], heads[arc]
        better = reach < dist[head]
        if not better.any():
            return dist
        lowered = dist.copy()
        np.minimum.at(lowered, head[better], reach[better])
        active = np.flatnonzero(lowered < dist)
        dist = lowered
    raise RuntimeError("negative cycle in the residual network: the flow was not optimal")


def add_violating_arcs(
    pool: CandidatePool, groups: list[Group], flow: Flow, weights: Weights
) -> int:
    """Add every excluded eligible arc with a negative reduced cost; how many were added
    (0: the flow is optimal for the dense problem, see the module docstring)."""
    pot = potentials(flow)
    n = pool.size
    vs_cand, vs_shift = np.divmod(flow.vs_key, max(1, len(flow.shift_code)))
    points = np.stack([g.point for g in groups])
    pair_costs = _PairCosts(pool, groups, weights)
    found_g, found_v, found_km = [], [], []
    for (skills, shift), members in by_need(groups, range(len(groups))).items():
        elig, tree = pool.cost_index(skills, shift, weights)
        if elig.size == 0:
            continue
        # a volunteer in no arc of this shift: the least potential its free arc allows
        p_vol = np.full(n, pot.sink, dtype=np.int64)
        here = vs_shift == flow.shift_code[shift]
        p_vol[vs_cand[here]] = pot.vs[here]
        rows = max(1, _CELLS // elig.size)
        for start in range(0, len(members), rows):
            chunk = members[start : start + rows]
            gs, vs = _screen(pool, groups, chunk, pot.group, p_vol, elig, tree, weights)
            km = chord_to_km(np.linalg.norm(pool.xyz[vs] - points[gs], axis=1))
            cost = int_costs(pair_costs(gs, vs, km), weights)
            bad = cost + pot.group[gs] - p_vol[vs] < 0
            found_g.append(gs[bad])
            found_v.append(vs[bad])
            found_km.append(km[bad])
    if not found_g:
        return 0
    gs, vs, km = np.concatenate(found_g), np.concatenate(found_v), np.concatenate(found_km)
    # arcs in the graph carry flow or price at ≥ 0 already: only excluded ones are news
    new = ~_isin_sorted(gs * n + vs, np.sort(flow.group * n + flow.cand))
    if not new.any():
        return 0
    order = np.argsort(gs[new], kind="stable")
    gs, vs, km = gs[new][order], vs[new][order], km[new][order]
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), gs.size], strict=True):
        add_arcs(pool, groups[int(gs[lo])], vs[lo:hi], km[lo:hi], weights)
    return int(gs.size)


def _screen(
    pool: CandidatePool,
    groups: list[Group],
    members: list[int],
    p_group: IntArray,
    p_vol: IntArray,
    elig: IntArray,
    tree: cKDTree,
    weights: Weights,
) -> tuple[IntArray, IntArray]:
    """The (group, volunteer) pairs of one need that might have a negative reduced cost.

    A negative reduced cost in integers, rint(c · scale) + p(g) − p(v) ≤ −1, needs
    c < (p(v) − p(g)) / scale ≤ (max p(v) − p(g)) / scale. In the cost space of
    `CandidatePool.embedding` a volunteer's distance from the group's probe is
    √((km · R · chord)² + (hour · h)²) ≤ km · distance + hour · h = c + discount: so every
    such volunteer lies in the ball of radius (max p(v) − p(g)) / scale + the group's largest
    discount around the probe (wider by the negative hours, if any, that break the
    inequality). One KD-tree ball query per need finds them; far volunteers cost nothing."""
    m = np.asarray(members, dtype=np.int64)
    discount = np.array([_largest_discount(groups[gi]) for gi in members])
    slack = 2.0 * weights.hour * max(0.0, -float(pool.hours[elig].min()))
    radius = (int(p_vol[elig].max()) - p_group[m]) / weights.scale + discount + slack
    look = np.flatnonzero(radius > 0)
    if look.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    probes = np.stack([probe(groups[gi], weights) for gi in m[look].tolist()])
    hits = tree.query_ball_point(probes, radius[look], return_sorted=False)
    counts = np.fromiter(map(len, hits), np.int64, len(hits))
    if counts.sum() == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pos = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])
    return np.repeat(m[look], counts), elig[pos]


def _largest_discount(g: Group) -> float:
    return float(g.discount.max()) if g.discount is not None and g.discount.size else 0.0


class _PairCosts:
    """`arc_costs` for many groups at once: the same operations in the same order, so the same
    integers as the arcs these pairs would become."""

    def __init__(self, pool: CandidatePool, groups: list[Group], weights: Weights) -> None:
        self.pool, self.weights = pool, weights
        # per group its row of team discounts (-1: none), as `Group.discount` holds them
        self.row = np.full(len(groups), -1, dtype=np.int64)
        rows = [(gi, g.discount) for gi, g in enumerate(groups) if g.discount is not None]
        rows = [(gi, d) for gi, d in rows if d.size]
        self.row[[gi for gi, _ in rows]] = np.arange(len(rows))
        self.table = np.stack([d for _, d in rows]) if rows else np.zeros((0, 0))

    def __call__(self, gs: IntArray, vs: IntArray, km: FloatArray) -> FloatArray:
        pool, weights = self.pool, self.weights
        cost = weights.km * km + weights.hour * pool.hours[vs]
        if self.table.size:
            code, r = pool.team_code[vs], self.row[gs]
            on = (code >= 0) & (r >= 0)
            off = np.zeros(gs.size)
            off[on] = self.table[r[on], code[on]]
            cost = cost - off
        return cost


def _isin_sorted(keys: IntArray, ordered: IntArray) -> BoolArray:
    if ordered.size == 0:
        return np.zeros(keys.size, dtype=np.bool_)
    at = np.minimum(np.searchsorted(ordered, keys), ordered.size - 1)
    return ordered[at] == keys
