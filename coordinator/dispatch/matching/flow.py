"""The min-cost max-flow on the sparse graph (OR-Tools)."""

from __future__ import annotations

import numpy as np
from ortools.graph.python import min_cost_flow

from coordinator.dispatch.matching.groups import Group
from coordinator.dispatch.matching.model import Weights
from coordinator.dispatch.matching.pool import CandidatePool


def run_flow(
    pool: CandidatePool, groups: list[Group], weights: Weights
) -> list[list[tuple[int, float, float]]]:
    """Min-cost max-flow on the current sparse graph: per group, (candidate, km, cost) chosen."""
    n_groups = len(groups)
    shift_code: dict[str, int] = {}
    sizes = np.array([g.cand.size for g in groups], dtype=np.int64)
    g_of_arc = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    if g_of_arc.size == 0:
        return [[] for _ in groups]
    cand = np.concatenate([g.cand for g in groups])
    dist = np.concatenate([g.dist for g in groups])
    cost = np.concatenate([g.cost for g in groups])
    shifts = np.array(
        [shift_code.setdefault(g.head.shift, len(shift_code)) for g in groups], dtype=np.int64
    )
    # one node per (volunteer, shift) that appears in some arc
    vs_key = cand * len(shift_code) + shifts[g_of_arc]
    vs_keys, vs_of_arc = np.unique(vs_key, return_inverse=True)
    source, sink, first_group = 0, 1, 2
    first_vs = first_group + n_groups
    # costs are shifted to be ≥ 0: every filled slot pays the same constant, and the number
    # filled is maximised first, so the optimum does not move
    int_cost = np.rint((cost - min(0.0, float(cost.min()))) * weights.scale).astype(np.int64)
    capacity = np.array([len(g.slots) for g in groups], dtype=np.int64)
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
        (np.zeros(n_groups, np.int64), int_cost, np.zeros(vs_keys.size, np.int64))
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
    flows = smcf.flows(arcs[n_groups : n_groups + cand.size])
    chosen: list[list[tuple[int, float, float]]] = [[] for _ in groups]
    used = np.flatnonzero(flows)
    for gi, i, d, c in zip(
        g_of_arc[used].tolist(),
        cand[used].tolist(),
        dist[used].tolist(),
        cost[used].tolist(),
        strict=True,
    ):
        chosen[gi].append((i, d, c))
    return chosen
