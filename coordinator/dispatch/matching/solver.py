"""`solve`: the whole matching, from the slots and candidates to one match per filled slot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from coordinator.dispatch.matching.certificate import add_violating_arcs
from coordinator.dispatch.matching.fill import add_augmenting_arcs, add_free_arcs
from coordinator.dispatch.matching.flow import run_flow
from coordinator.dispatch.matching.graph import by_need, reserve_and_link
from coordinator.dispatch.matching.groups import check_slots, in_lead, make_groups
from coordinator.dispatch.matching.model import DEFAULT_WEIGHTS, Candidate, Match, Slot, Weights
from coordinator.dispatch.matching.pool import CandidatePool, as_pool, make_match


def solve(
    slots: Sequence[Slot],
    candidates: Iterable[Candidate] | CandidatePool,
    *,
    k: int = 8,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Match]:
    """Fill as many slots as possible at the least total cost; see the package docstring.

    Optimal over every eligible (volunteer, slot) pair, not only over the sparse graph it
    solves on: `certificate` proves it, in the flow's integer costs, before returning.

    `k`: nearest eligible volunteers per slot beyond the slots of its group (the sparsity).
    Returns one `Match` per filled slot, in the order of `slots`; unfilled slots are absent.
    Raises ValueError for duplicate slot ids or volunteers, or a slot without a valid location.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    slots = list(slots)
    check_slots(slots)
    pool = as_pool(candidates)
    if not slots or pool.size == 0:
        return []
    groups = make_groups(slots, pool, weights)
    for (skills, shift), members in by_need(groups, range(len(groups))).items():
        # the tree the certificate will use anyway
        idx, tree = pool.cost_index(skills, shift, weights)
        needs = [len(groups[gi].slots) for gi in members]
        reserve_and_link(pool, groups, members, needs, idx, k, weights, tree)

    while True:
        flow = run_flow(pool, groups, weights)
        short = flow.short
        if not short:
            break
        if add_free_arcs(pool, groups, flow.chosen, short, k, weights):
            continue
        if not add_augmenting_arcs(pool, groups, flow.chosen, short, weights):
            break  # no alternating path anywhere: this is the maximum fill
    # the fill is the dense maximum; now make the cost the dense minimum (see `certificate`
    # for why the fill must come first)
    while add_violating_arcs(pool, groups, flow, weights):
        flow = run_flow(pool, groups, weights)
    chosen = flow.chosen

    slot_order = {s.slot_id: n for n, s in enumerate(slots)}
    matches: list[Match] = []
    for gi, g in enumerate(groups):
        picks = sorted(chosen[gi], key=lambda p: (p[2], p[0]))
        for slot, (i, dist, cost) in zip(g.slots, picks, strict=False):
            matches.append(make_match(pool, i, slot, dist, cost, in_lead(pool, g, i)))
    matches.sort(key=lambda m: slot_order[m.slot_id])
    return matches
