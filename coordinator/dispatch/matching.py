"""Matching: which volunteer takes which task slot (issue 3, item 4). Pure logic, no I/O.

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
  great-circle distance, and arc costs use the exact distance. Plus m volunteers *reserved*
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
  is the maximum of the dense problem. Costs are optimal over the sparse graph.

Team cohesion (playbooks that want whole teams): "as few teams as possible" is a fixed charge
per team, which a min-cost flow cannot express. So each team task first picks its *lead teams*
by a greedy set cover over the teams with members close by (`lead_teams`), and in the flow a
lead-team member costs `team_bonus` less on that task: whole nearby teams go first, strangers
fill what they cannot.

`refill` picks the single best volunteer for one slot after a decline or expiry in one vectorised
pass (no re-solve). `greedy` is the nearest-eligible baseline that `bench/dispatch_solver.py`
compares against.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from operator import attrgetter, contains

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from scipy.spatial import cKDTree

from coordinator.geo.service import EARTH_RADIUS_KM

__all__ = [
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

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Slot:
    """One volunteer place in a task."""

    #: e.g. "12:3" (task 12, slot 3); unique within one `solve` call
    slot_id: str
    task_id: int
    lat: float
    lon: float
    #: every one of these is required
    skills: frozenset[str]
    #: shift key, e.g. "2014-01-05T08"; a volunteer takes at most one slot per shift
    shift: str
    #: the playbook asks for whole teams: prefer filling from as few teams as possible
    team_task: bool = False


@dataclass(frozen=True)
class Candidate:
    """A volunteer who might take a slot, as the matching sees them."""

    volunteer_id: int
    #: current location if known, else home (say which in `at_home`)
    lat: float
    lon: float
    skills: frozenset[str]
    #: hours served recently: the fairness input (more hours, higher cost)
    recent_hours: float
    team_id: int | None = None
    #: shifts this volunteer already holds elsewhere
    busy_shifts: frozenset[str] = frozenset()
    #: False when opted out, inactive or unavailable
    available: bool = True
    #: whether lat/lon is the home address (True) or a reported current location (False)
    at_home: bool = True


@dataclass(frozen=True)
class Match:
    """One volunteer in one slot, with what it costs and why it was chosen."""

    slot_id: str
    task_id: int
    volunteer_id: int
    distance_km: float
    #: in cost units (see `Weights`); the solver minimises the sum of these
    cost: float
    #: short and human-readable, e.g. "2.1 km from home; has de_icing; 3 h served recently"
    reason: str


@dataclass(frozen=True)
class Weights:
    """How the matching trades travel against fairness and team cohesion.

    Cost units are "kilometres of travel" with the default `km=1`.
    """

    #: cost per kilometre between the volunteer and the slot
    km: float = 1.0
    #: cost per hour served recently: with 0.2, five hours served weigh like one km further away
    hour: float = 0.2
    #: discount for a member of a lead team on a team task (see `lead_teams`)
    team_bonus: float = 3.0
    #: integer cost units per cost unit for the flow solver (1000: metres with km=1)
    scale: int = 1000

    def __post_init__(self) -> None:
        for name in ("km", "hour", "team_bonus"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Weights.{name} must be a finite number ≥ 0, not {value!r}")
        if self.scale < 1:
            raise ValueError(f"Weights.scale must be ≥ 1, not {self.scale!r}")


DEFAULT_WEIGHTS = Weights()


# -- geometry ----------------------------------------------------------------------------------
def _unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    la, lo = np.radians(lat), np.radians(lon)
    cos_la = np.cos(la)
    return np.column_stack((cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)))


def _chord_to_km(chord: FloatArray) -> FloatArray:
    # chord = 2·sin(θ/2) on the unit sphere; the same central angle the haversine formula gives
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


# -- the candidates, prepared once -------------------------------------------------------------
_VOLUNTEER_ID = attrgetter("volunteer_id")
_LAT, _LON, _HOURS = attrgetter("lat"), attrgetter("lon"), attrgetter("recent_hours")
_TEAM, _AVAILABLE = attrgetter("team_id"), attrgetter("available")
_SKILLS, _BUSY = attrgetter("skills"), attrgetter("busy_shifts")
_NO_TEAM: dict[int | None, int] = {None: -1}


class CandidatePool:
    """Candidates as numpy arrays, with eligibility masks and KD-trees built on demand.

    Build one when several calls (a `solve` and then many `refill`s) see the same candidates;
    every function here also accepts a plain sequence of `Candidate` and builds it itself.
    Candidates with non-finite coordinates or hours are treated as unavailable.
    """

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.candidates: tuple[Candidate, ...] = tuple(candidates)
        n = self.size = len(self.candidates)
        cands = self.candidates
        # one C-level map per field: no Python loop, and no 20,000 temporary tuples to wake
        # the garbage collector (this is most of what a refill from a plain list costs)
        self.ids: IntArray = np.fromiter(map(_VOLUNTEER_ID, cands), np.int64, n)
        ordered = np.sort(self.ids)
        if n > 1 and not np.all(ordered[1:] != ordered[:-1]):
            raise ValueError("each volunteer may appear only once among the candidates")
        self.lat: FloatArray = np.fromiter(map(_LAT, cands), np.float64, n)
        self.lon: FloatArray = np.fromiter(map(_LON, cands), np.float64, n)
        self.hours: FloatArray = np.fromiter(map(_HOURS, cands), np.float64, n)
        teams = list(map(_TEAM, cands))
        # {None: -1}.get(t, t): -1 for no team, else the id itself
        team = np.fromiter(map(_NO_TEAM.get, teams, teams), np.int64, n)
        self.ok: BoolArray = (
            np.fromiter(map(_AVAILABLE, cands), np.bool_, n)
            & np.isfinite(self.lat)
            & np.isfinite(self.lon)
            & np.isfinite(self.hours)
        )
        # teams as dense codes 0..T-1 (-1: none), so per-team arrays are plain numpy arrays
        self.team_ids, codes = np.unique(team[team >= 0], return_inverse=True)
        self.team_code: IntArray = np.full(n, -1, dtype=np.int64)
        self.team_code[team >= 0] = codes
        self.xyz: FloatArray = _unit_vectors(
            np.where(self.ok, self.lat, 0.0), np.where(self.ok, self.lon, 0.0)
        )
        self._busy: dict[str, BoolArray] = {}
        self._skill: dict[str, BoolArray] = {}
        self._eligible: dict[tuple[frozenset[str], str], BoolArray] = {}
        self._embedding: dict[tuple[float, float], FloatArray] = {}

    # eligibility ------------------------------------------------------------------------------
    def _has_skill(self, skill: str) -> BoolArray:
        mask = self._skill.get(skill)
        if mask is None:
            held = map(_SKILLS, self.candidates)
            mask = np.fromiter(map(contains, held, repeat(skill)), np.bool_, self.size)
            self._skill[skill] = mask
        return mask

    def _skilled(self, skills: frozenset[str]) -> BoolArray:
        mask = self.ok.copy()
        for skill in skills:
            mask &= self._has_skill(skill)
        return mask

    def busy_mask(self, shift: str) -> BoolArray:
        """True for candidates who already hold `shift` (cached; do not modify)."""
        mask = self._busy.get(shift)
        if mask is None:
            held = map(_BUSY, self.candidates)
            mask = np.fromiter(map(contains, held, repeat(shift)), np.bool_, self.size)
            mask.flags.writeable = False
            self._busy[shift] = mask
        return mask

    def eligible_mask(self, skills: frozenset[str], shift: str) -> BoolArray:
        """Available, has every skill in `skills`, not busy in `shift` (cached; do not modify)."""
        key = (skills, shift)
        mask = self._eligible.get(key)
        if mask is None:
            mask = self._skilled(skills) & ~self.busy_mask(shift)
            mask.flags.writeable = False
            self._eligible[key] = mask
        return mask

    def embedding(self, weights: Weights) -> FloatArray:
        """Candidates as 4-D points whose Euclidean distance from a slot's `probe` is close to
        the cost of sending them: (position in km × `km`, recent hours × `hour`). Nearest
        neighbours here are the *cheapest* candidates, not merely the nearest: someone 1 km
        further who served 20 hours less is a better arc than the neighbour who served 40."""
        key = (weights.km, weights.hour)
        emb = self._embedding.get(key)
        if emb is None:
            hours = np.where(self.ok, self.hours, 0.0)
            emb = np.column_stack((self.xyz * (EARTH_RADIUS_KM * weights.km), hours * weights.hour))
            self._embedding[key] = emb
        return emb

    def distance_km(self, idx: IntArray, lat: float, lon: float) -> FloatArray:
        """Great-circle distance from (lat, lon) to the candidates at `idx`."""
        point = _unit_vectors(np.array([lat]), np.array([lon]))[0]
        return _chord_to_km(np.linalg.norm(self.xyz[idx] - point, axis=1))


def _pool(candidates: Iterable[Candidate] | CandidatePool) -> CandidatePool:
    return candidates if isinstance(candidates, CandidatePool) else CandidatePool(candidates)


# -- slot groups and costs ---------------------------------------------------------------------
@dataclass
class _Group:
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


def _check_slots(slots: Sequence[Slot]) -> None:
    ids = [s.slot_id for s in slots]
    if len(set(ids)) != len(ids):
        raise ValueError("slot ids must be unique")
    for s in slots:
        if not (math.isfinite(s.lat) and math.isfinite(s.lon)):
            raise ValueError(f"slot {s.slot_id} has no valid location ({s.lat}, {s.lon})")


def _groups(slots: Sequence[Slot], pool: CandidatePool, weights: Weights) -> list[_Group]:
    by_key: dict[tuple[object, ...], list[Slot]] = {}
    for s in slots:
        key = (s.task_id, s.lat, s.lon, s.skills, s.shift, s.team_task)
        by_key.setdefault(key, []).append(s)
    heads = [members[0] for members in by_key.values()]
    points = _unit_vectors(np.array([h.lat for h in heads]), np.array([h.lon for h in heads]))
    groups = [_Group(members, points[n]) for n, members in enumerate(by_key.values())]
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


def _choose_lead_teams(pool: CandidatePool, groups: list[_Group], weights: Weights) -> None:
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
    index: dict[tuple[frozenset[str], str], tuple[IntArray, _Nearest, int]] = {}
    emb = pool.embedding(weights)
    for gi in order:
        g = groups[gi]
        head = g.head
        need = (head.skills, head.shift)
        taken = reserved.setdefault(head.shift, np.zeros(pool.size, dtype=np.bool_))
        count = reserved_count.get(head.shift, 0)
        built = index.get(need)
        if built is None or count - built[2] >= _REBUILD_AFTER:
            alive = np.flatnonzero(pool.eligible_mask(*need) & (pool.team_code >= 0) & ~taken)
            built = alive, _Nearest(emb[alive], brute=per_need[need] <= _BRUTE_MAX_QUERIES), count
            index[need] = built
        alive, nearest, base = built
        if alive.size == 0:
            continue
        look = _TEAM_LOOKAHEAD * len(g.slots)
        # at most count - base of the hits were reserved since the index was built
        _, pos = nearest.query(_probe(g, weights), min(alive.size, look + count - base))
        members = alive[pos]
        members = members[~taken[members]][:look]
        if members.size == 0:
            continue
        km = _chord_to_km(np.linalg.norm(pool.xyz[members] - g.point, axis=1))
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


def _costs(
    pool: CandidatePool,
    idx: IntArray,
    dist: FloatArray,
    weights: Weights,
    discount: FloatArray | None,
) -> FloatArray:
    cost = weights.km * dist + weights.hour * pool.hours[idx]
    if discount is not None and discount.size:
        code = pool.team_code[idx]
        cost = cost - np.where(code >= 0, discount[np.maximum(code, 0)], 0.0)
    return cost


def _reason(pool: CandidatePool, i: int, slot: Slot, dist: float, lead: bool) -> str:
    c = pool.candidates[i]
    parts = [f"{dist:.1f} km from {'home' if c.at_home else 'current location'}"]
    if slot.skills:
        parts.append("has " + ", ".join(sorted(slot.skills)))
    parts.append(f"{round(c.recent_hours, 1):g} h served recently")
    if lead:
        parts.append(f"with team {c.team_id}")
    return "; ".join(parts)


def _match(pool: CandidatePool, i: int, slot: Slot, dist: float, cost: float, lead: bool) -> Match:
    return Match(
        slot_id=slot.slot_id,
        task_id=slot.task_id,
        volunteer_id=int(pool.ids[i]),
        distance_km=float(dist),
        cost=float(cost),
        reason=_reason(pool, i, slot, dist, lead),
    )


# -- the solver --------------------------------------------------------------------------------
def solve(
    slots: Sequence[Slot],
    candidates: Iterable[Candidate] | CandidatePool,
    *,
    k: int = 8,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Match]:
    """Fill as many slots as possible at the least total cost; see the module docstring.

    `k`: nearest eligible volunteers per slot beyond the slots of its group (the sparsity).
    Returns one `Match` per filled slot, in the order of `slots`; unfilled slots are absent.
    Raises ValueError for duplicate slot ids or volunteers, or a slot without a valid location.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    slots = list(slots)
    _check_slots(slots)
    pool = _pool(candidates)
    if not slots or pool.size == 0:
        return []
    groups = _groups(slots, pool, weights)
    for (skills, shift), members in _by_need(groups, range(len(groups))).items():
        idx = np.flatnonzero(pool.eligible_mask(skills, shift))
        needs = [len(groups[gi].slots) for gi in members]
        _reserve_and_link(pool, groups, members, needs, idx, k, weights)

    while True:
        chosen = _flow(pool, groups, weights)
        short = [gi for gi, g in enumerate(groups) if len(chosen[gi]) < len(g.slots)]
        if not short:
            break
        if _add_free_arcs(pool, groups, chosen, short, k, weights):
            continue
        if not _add_augmenting_arcs(pool, groups, chosen, short, weights):
            break  # no alternating path anywhere: this is the maximum fill

    slot_order = {s.slot_id: n for n, s in enumerate(slots)}
    matches: list[Match] = []
    for gi, g in enumerate(groups):
        picks = sorted(chosen[gi], key=lambda p: (p[2], p[0]))
        for slot, (i, dist, cost) in zip(g.slots, picks, strict=False):
            matches.append(_match(pool, i, slot, dist, cost, _in_lead(pool, g, i)))
    matches.sort(key=lambda m: slot_order[m.slot_id])
    return matches


def _in_lead(pool: CandidatePool, g: _Group, i: int) -> bool:
    return int(pool.team_code[i]) in g.lead


def _add_arcs(
    pool: CandidatePool, g: _Group, idx: IntArray, dist: FloatArray, weights: Weights
) -> None:
    """Give the group arcs to the candidates `idx` (at `dist` km), keeping those it had."""
    if g.cand.size:
        idx, keep = np.unique(np.concatenate((g.cand, idx)), return_index=True)
        dist = np.concatenate((g.dist, dist))[keep]
    g.cand, g.dist = idx, dist
    g.cost = _costs(pool, idx, dist, weights, g.discount)


def _holders(
    pool: CandidatePool, groups: list[_Group], chosen: list[list[tuple[int, float, float]]]
) -> dict[str, IntArray]:
    """Per shift, which group holds each candidate (-1: free in that shift)."""
    holder: dict[str, IntArray] = {}
    for gi, g in enumerate(groups):
        if chosen[gi]:
            held = holder.setdefault(g.head.shift, np.full(pool.size, -1, dtype=np.int64))
            held[[i for i, _, _ in chosen[gi]]] = gi
    return holder


def _by_need(
    groups: list[_Group], members: Iterable[int]
) -> dict[tuple[frozenset[str], str], list[int]]:
    """Group indices by what they need: (skills, shift)."""
    out: dict[tuple[frozenset[str], str], list[int]] = {}
    for gi in members:
        out.setdefault((groups[gi].head.skills, groups[gi].head.shift), []).append(gi)
    return out


#: rebuild the KD-tree without reserved volunteers after this many reservations
_REBUILD_AFTER = 256
#: up to this many queries, measuring all distances beats building a KD-tree
_BRUTE_MAX_QUERIES = 24


class _Nearest:
    """k-nearest queries on unit vectors: a KD-tree, or plain numpy for a handful of queries."""

    def __init__(self, xyz: FloatArray, *, brute: bool) -> None:
        self.xyz, self.brute = xyz, brute
        self.tree = None if brute else cKDTree(xyz)

    def query(self, point: FloatArray, k: int) -> tuple[FloatArray, IntArray]:
        """Chord lengths and positions of the k nearest, nearest first."""
        if self.tree is not None:
            chord, pos = self.tree.query(point, k=k)
            return np.atleast_1d(chord), np.atleast_1d(pos).astype(np.int64)
        dist = np.linalg.norm(self.xyz - point, axis=1)
        pos = np.argpartition(dist, k - 1)[:k] if k < dist.size else np.arange(dist.size)
        pos = pos[np.argsort(dist[pos], kind="stable")]
        return dist[pos], pos.astype(np.int64)


def _reserve_and_link(
    pool: CandidatePool,
    groups: list[_Group],
    members: list[int],
    needs: list[int],
    idx: IntArray,
    k: int,
    weights: Weights,
) -> bool:
    """Give each group (all of one skills+shift need) arcs to its nearest volunteers of `idx`:
    `need` of them *reserved* for it alone, k more it may share with its neighbours.

    Nearest-K from each slot alone breaks down where demand is dense: neighbouring slots all
    see the same few volunteers and the graph holds too few distinct people to fill them.
    Reserving distinct volunteers puts a complete assignment (where one exists among `idx`)
    into the graph, so one flow fills what can be filled; the shared ones let it find a
    cheaper one. False when `idx` is empty."""
    if idx.size == 0:
        return False
    alive = idx
    emb = pool.embedding(weights)
    # a tree pays off only over many queries; a few groups measure every distance directly
    tree = _Nearest(emb[alive], brute=len(members) <= _BRUTE_MAX_QUERIES)
    taken = np.zeros(pool.size, dtype=np.bool_)
    since = 0  # reservations made since the tree was built: at most this many stale hits
    for gi, need in zip(members, needs, strict=True):
        if since >= _REBUILD_AFTER:
            alive = alive[~taken[alive]]
            if alive.size == 0:
                break
            tree, since = _Nearest(emb[alive], brute=tree.brute), 0
        g = groups[gi]
        _, pos = tree.query(_probe(g, weights), min(alive.size, need + k + since))
        near = alive[pos]
        km = _chord_to_km(np.linalg.norm(pool.xyz[near] - g.point, axis=1))
        fresh = np.flatnonzero(~taken[near])
        mine = fresh[:need]
        taken[near[mine]] = True
        since += mine.size
        # the reserved, the next k not reserved, and the need + k nearest whoever holds them
        use = np.union1d(fresh[: need + k], np.arange(min(need + k, near.size)))
        _add_arcs(pool, g, near[use], km[use], weights)
    teams = [(gi, need) for gi, need in zip(members, needs, strict=True) if groups[gi].lead]
    if teams:
        _link_teams(pool, groups, teams, idx, k, weights)
    return True


def _probe(g: _Group, weights: Weights) -> FloatArray:
    """The group's point in the space of `CandidatePool.embedding` (zero hours: the ideal)."""
    return np.append(g.point * (EARTH_RADIUS_KM * weights.km), 0.0)


def _link_teams(
    pool: CandidatePool,
    groups: list[_Group],
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
            km = _chord_to_km(np.linalg.norm(pool.xyz[near] - g.point, axis=1))
            _add_arcs(pool, g, near, km, weights)


def _add_free_arcs(
    pool: CandidatePool,
    groups: list[_Group],
    chosen: list[list[tuple[int, float, float]]],
    short: list[int],
    k: int,
    weights: Weights,
) -> bool:
    """Widen the short groups towards volunteers still free in their shift (reserving as many
    as each is short). Every such arc is an augmenting path, so the next flow fills more.
    False when no short group has a free eligible volunteer."""
    holder = _holders(pool, groups, chosen)
    added = False
    for (skills, shift), members in _by_need(groups, short).items():
        held = holder.get(shift)
        free = pool.eligible_mask(skills, shift)
        if held is not None:
            free = free & (held < 0)
        missing = [len(groups[gi].slots) - len(chosen[gi]) for gi in members]
        added |= _reserve_and_link(pool, groups, members, missing, np.flatnonzero(free), k, weights)
    return added


def _flow(
    pool: CandidatePool, groups: list[_Group], weights: Weights
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


def _add_augmenting_arcs(
    pool: CandidatePool,
    groups: list[_Group],
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
    holders = _holders(pool, groups, chosen)
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
                near = free[np.argmin(_costs(pool, free, km, weights, g.discount))]
                holder[near] = gi  # another path must find another free volunteer
                _add_arc(pool, g, int(near), weights)
                child = gi
                while child in parent:
                    up, via = parent[child]
                    _add_arc(pool, groups[up], via, weights)
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


def _add_arc(pool: CandidatePool, g: _Group, i: int, weights: Weights) -> None:
    if np.any(g.cand == i):
        return
    idx = np.array([i], dtype=np.int64)
    d = pool.distance_km(idx, g.head.lat, g.head.lon)
    g.cand = np.append(g.cand, idx)
    g.dist = np.append(g.dist, d)
    g.cost = np.append(g.cost, _costs(pool, idx, d, weights, g.discount))


def lead_teams(
    slots: Sequence[Slot],
    candidates: Iterable[Candidate] | CandidatePool,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
) -> dict[str, frozenset[int]]:
    """The teams `solve` would favour on each team-task slot (slot id → team ids); slots
    without a lead team are absent. Their members get `weights.team_bonus` off their cost."""
    slots = list(slots)
    _check_slots(slots)
    pool = _pool(candidates)
    if not slots or pool.size == 0:
        return {}
    return {
        s.slot_id: frozenset(int(pool.team_ids[c]) for c in g.lead)
        for g in _groups(slots, pool, weights)
        if g.lead
        for s in g.slots
    }


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
    pool = _pool(candidates)
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
    cost = _costs(pool, idx, dist, weights, discount)
    best = int(np.argmin(cost))
    i = int(idx[best])
    code = int(pool.team_code[i])
    lead = discount is not None and code >= 0 and bool(discount[code] > 0)
    return _match(pool, i, slot, float(dist[best]), float(cost[best]), lead)


# -- the baseline ------------------------------------------------------------------------------
def greedy(
    slots: Sequence[Slot],
    candidates: Iterable[Candidate] | CandidatePool,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Match]:
    """Baseline: slot by slot in the given order, the nearest eligible volunteer still free in
    that shift. Costs use the same formula as `solve`, so totals compare."""
    slots = list(slots)
    _check_slots(slots)
    pool = _pool(candidates)
    if not slots or pool.size == 0:
        return []
    group_of = {s.slot_id: g for g in _groups(slots, pool, weights) for s in g.slots}
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
        if built_at < 0 or count - built_at >= _REBUILD_AFTER:
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
        dist = _chord_to_km(np.atleast_1d(chord)[j : j + 1])
        cost = float(_costs(pool, idx, dist, weights, g.discount)[0])
        matches.append(_match(pool, i, slot, float(dist[0]), cost, _in_lead(pool, g, i)))
    return matches
