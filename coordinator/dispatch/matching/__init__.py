"""Matching: which volunteer takes which task slot (issues 3 and 17). Pure logic, no I/O.

The objective, per match, in cost units (1 unit = 1 km of travel with the default weights)::

    cost = km · distance_km + hour · recent_hours − team_bonus   (lead-team members, team tasks)

`solve` fills as many slots as can be filled at all and, among those maximum fills, minimises the
total cost. It is a min-cost max-flow (OR-Tools `SimpleMinCostFlow`, integer costs: cost units ×
`Weights.scale`, i.e. metres) on a sparse graph::

    source ─(cap m)→ slot group ─(cap 1, cost)→ (volunteer, shift) ─(cap 1)→ sink

OR-Tools' `solve_max_flow_with_min_cost` finds the maximum flow and, among maximum flows, the
cheapest: unfilled slots are simply flow that cannot be routed, with no big-M "unfilled" arc
whose size would have to dominate every sum of real costs.

* A *slot group* is the set of identical slots of one task (same place, skills, shift): they are
  interchangeable, so one node with capacity m replaces m nodes and m copies of the same arcs.
* Each group gets arcs to its m + K *cheapest-looking* eligible volunteers: nearest neighbours
  (KD-tree per need) among points (3-D unit vector × Earth radius × km, recent hours × hour),
  whose distance tracks the cost; on the sphere the chord orders points exactly like the
  great-circle distance, and arc costs use the exact distance. These lists never leave out
  volunteers reserved by other groups. Plus m volunteers *reserved*
  for it alone, the cheapest not yet reserved by an earlier group: where demand is dense,
  neighbouring slots all see the same few people, and the reservations put a complete
  assignment into the graph whenever there is one, so one flow fills it. Plus every eligible
  member of its lead teams (below).
* The (volunteer, shift) node has capacity 1: a volunteer holds at most one slot per shift but
  may serve several shifts. Volunteers busy in a shift are not eligible for it.
* Sparsity must never cost a fill. A group left short gets arcs to (and reservations of)
  volunteers still free in its shift, and the flow runs again; when no short group has a free
  eligible volunteer left, an alternating-path search over the *full* eligibility (Berge) adds
  the few arcs that let the flow fill one more slot. When that search finds nothing, the fill
  is the maximum of the dense problem.
* Sparsity must never cost money either (`certificate`). With the fill at the dense maximum,
  the flow's node potentials (shortest distances in its residual network, by Bellman-Ford:
  OR-Tools does not expose its duals) price every eligible pair left out of the graph; an
  excluded arc with a negative reduced cost is added and the flow runs again, until none has.
  Then no cheaper flow of that value exists over the *full* eligibility: the result is the
  dense problem's max-fill, then min-cost optimum, exactly, in the integer costs the flow uses
  (`tests/dispatch/test_matching.py` checks it against scipy's assignment solver, and the
  benches print the gap to a dense optimum computed without this code). A KD-tree ball per
  slot group finds the few volunteers cheap enough to matter, so the check never builds the
  dense matrix. On the bench instances it adds from none (none needed) to 56,572 arcs (bench
  dispatch's hotspots, where the optimum sends people far) in at most three rounds, plus the
  last round that finds none.

Team cohesion (playbooks that want whole teams): "as few teams as possible" is a fixed charge
per team, which a min-cost flow cannot express. So each team task first picks its *lead teams*
by a greedy set cover over the teams with members close by (`lead_teams`), and in the flow a
lead-team member costs `team_bonus` less on that task: whole nearby teams go first, strangers
fill what they cannot.

`refill` picks the single best volunteer for one slot after a decline or expiry in one vectorised
pass (no re-solve). `greedy` is the nearest-eligible baseline that `bench/dispatch_solver.py`
compares against.

The code, by job: `model` (the inputs and outputs), `pool` (candidates as arrays, geometry,
the cost of an arc), `groups` (slot groups, lead teams), `graph` (the sparse candidate graph),
`flow` (OR-Tools), `fill` (widening until the fill is the maximum), `certificate` (widening
until the cost is the minimum, and the proof), `solver` (`solve`), `slot_by_slot` (`refill`,
`greedy`).
"""

from coordinator.dispatch.matching.groups import lead_teams
from coordinator.dispatch.matching.model import DEFAULT_WEIGHTS, Candidate, Match, Slot, Weights
from coordinator.dispatch.matching.pool import CandidatePool
from coordinator.dispatch.matching.slot_by_slot import greedy, refill
from coordinator.dispatch.matching.solver import solve

__all__ = [
    "DEFAULT_WEIGHTS",
    "Candidate",
    "CandidatePool",
    "Match",
    "Slot",
    "Weights",
    "greedy",
    "lead_teams",
    "refill",
    "solve",
]
