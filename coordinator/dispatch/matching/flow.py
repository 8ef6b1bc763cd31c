"""The min-cost max-flow on the sparse graph (OR-Tools)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from coordinator.dispatch.matching.groups import Group
from coordinator.dispatch.matching.model import Weights
from coordinator.dispatch.matching.pool import BoolArray, CandidatePool, FloatArray, IntArray


@dataclass
class Flow:
    """A min-cost max-flow on the sparse graph, with what its certificate needs: every arc's
    integer cost and flow, and which (volunteer, shift) node each arc ends in."""

    #: per group, the (candidate, km, cost) it was given
    chosen: list[list[tuple[int, float, float]]]
    #: shift key → its code in `vs_key`
    shift_code: dict[str, int]
    #: per group arc (all groups' arcs one after another): its group, candidate, integer cost
    #: (cost × scale, rounded: what the flow minimised), whether it carries flow
    group: IntArray
    cand: IntArray
    int_cost: IntArray
    used: BoolArray
    #: the (volunteer, shift) nodes: candidate × number of shifts + shift code, sorted; per arc
    #: its node's position there
    vs_key: IntArray
    vs_of_arc: IntArray
    #: per group, its capacity (its slots) and the flow through it (the slots filled)
    capacity: IntArray
    filled: IntArray

    @property
    def short(self) -> list[int]:
        """The groups left with a slot unfilled."""
        return np.flatnonzero(self.filled < self.capacity).tolist()


def int_costs(cost: FloatArray, weights: Weights) -> IntArray:
    """The integer costs the flow minimises (cost × scale, rounded: metres by default)."""
    return np.rint(cost * weights.scale).astype(np.int64)


def run_flow(pool: CandidatePool, groups: list[Group], weights: Weights) -> Flow:
    """Min-cost max-flow on the current sparse graph."""
    n_groups = len(groups)
    shift_code: dict[str, int] = {}
    shifts = np.array(
        [shift_code.setdefault(g.head.shift, len(shift_code)) for g in groups], dtype=np.int64
    )
    sizes = np.array([g.cand.size for g in groups], dtype=np.int64)
    g_of_arc = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    capacity = np.array([len(g.slots) for g in groups], dtype=np.int64)
    empty = np.empty(0, np.int64)
    if g_of_arc.size == 0:
        no_flow, unused = np.zeros(n_groups, np.int64), np.empty(0, np.bool_)
        chosen_none: list[list[tuple[int, float, float]]] = [[] for _ in groups]
        return Flow(
            chosen_none, shift_code, empty, empty, empty, unused, empty, empty, capacity, no_flow
        )
    cand = np.concatenate([g.cand for g in groups])
    dist = np.concatenate([g.dist for g in groups])
    cost = np.concatenate([g.cost for g in groups])
    # one node per (volunteer, shift) that appears in some arc
    vs_key = cand * len(shift_code) + shifts[g_of_arc]
    vs_keys, vs_of_arc = np.unique(vs_key, return_inverse=True)
    source, sink, first_group = 0, 1, 2
    first_vs = first_group + n_groups
    # costs are shifted to be ≥ 0: every filled slot pays the same constant, and the number
    # filled is maximised first, so the optimum does not move
    int_cost = int_costs(cost, weights)
    shifted = int_cost - min(0, int(int_cost.min()))
    starts = np.concatenate(
        (
            np.full(n_groups, source),
            first_group + g_of_arc,
            first_vs + np.arange(vs_keys.size),
        )
    )
    ends = np.concatenate(
        (
            first_group + np.arange(n_groups),
            first_vs + vs_of_arc,
            np.full(vs_keys.size, sink),
        )
    )
    caps = np.concatenate((capacity, np.ones(cand.size + vs_keys.size, dtype=np.int64)))
    costs = np.concatenate(
        (np.zeros(n_groups, np.int64), shifted, np.zeros(vs_keys.size, np.int64))
    )
    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        starts.astype(np.int32), ends.astype(np.int32), caps, costs
    )
    total = int(capacity.sum())
    smcf.set_node_supply(source, total)
    smcf.set_node_supply(sink, -total)
    status = smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    used = smcf.flows(arcs[n_groups : n_groups + cand.size]) > 0
    chosen: list[list[tuple[int, float, float]]] = [[] for _ in groups]
    on = np.flatnonzero(used)
    for gi, i, d, c in zip(
        g_of_arc[on].tolist(),
        cand[on].tolist(),
        dist[on].tolist(),
        cost[on].tolist(),
        strict=True,
    ):
        chosen[gi].append((i, d, c))
    filled = np.bincount(g_of_arc[on], minlength=n_groups).astype(np.int64)
    return Flow(
        chosen, shift_code, g_of_arc, cand, int_cost, used, vs_keys, vs_of_arc, capacity, filled
    )
