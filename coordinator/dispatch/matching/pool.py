"""The candidates as numpy arrays, the geometry (points on the sphere, nearest neighbours) and
the cost of one arc, shared by the solver, refill and greedy."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from operator import attrgetter, contains

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from coordinator.dispatch.matching.model import Candidate, Match, Slot, Weights
from coordinator.geo.service import EARTH_RADIUS_KM

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


# -- geometry ----------------------------------------------------------------------------------
def unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    la, lo = np.radians(lat), np.radians(lon)
    cos_la = np.cos(la)
    return np.column_stack((cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)))


def chord_to_km(chord: FloatArray) -> FloatArray:
    # chord = 2·sin(θ/2) on the unit sphere; the same central angle the haversine formula gives
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


# -- the candidates, prepared once -------------------------------------------------------------
_VOLUNTEER_ID = attrgetter("volunteer_id")
_LAT, _LON, _HOURS = attrgetter("lat"), attrgetter("lon"), attrgetter("recent_hours")
_TEAM, _AVAILABLE = attrgetter("team_id"), attrgetter("available")
_SKILLS, _BUSY = attrgetter("skills"), attrgetter("busy_shifts")
_LAPSED = attrgetter("lapsed")
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
        self.xyz: FloatArray = unit_vectors(
            np.where(self.ok, self.lat, 0.0), np.where(self.ok, self.lon, 0.0)
        )
        self._busy: dict[str, BoolArray] = {}
        # the few candidates with an expired certificate somewhere (most have none)
        self._lapsing: IntArray = np.flatnonzero(
            np.fromiter(map(bool, map(_LAPSED, cands)), np.bool_, n)
        )
        self._skill: dict[str, BoolArray] = {}
        self._eligible: dict[tuple[frozenset[str], str], BoolArray] = {}
        self._embedding: dict[tuple[float, float], FloatArray] = {}
        self._index: dict[tuple[frozenset[str], str, float, float], tuple[IntArray, cKDTree]] = {}

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

    def lapsed_mask(self, skills: frozenset[str], shift: str) -> BoolArray:
        """True for candidates one of whose `skills` has expired by the end of `shift`."""
        mask = np.zeros(self.size, dtype=np.bool_)
        for i in self._lapsing:
            lapsed = self.candidates[i].lapsed
            mask[i] = any((skill, shift) in lapsed for skill in skills)
        return mask

    def eligible_mask(self, skills: frozenset[str], shift: str) -> BoolArray:
        """Available, has every skill in `skills` (certified through `shift`), not busy in
        `shift` (cached; do not modify)."""
        key = (skills, shift)
        mask = self._eligible.get(key)
        if mask is None:
            mask = self._skilled(skills) & ~self.busy_mask(shift)
            if skills and self._lapsing.size:
                mask &= ~self.lapsed_mask(skills, shift)
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

    def cost_index(
        self, skills: frozenset[str], shift: str, weights: Weights
    ) -> tuple[IntArray, cKDTree]:
        """The candidates eligible for (skills, shift) and a KD-tree over their `embedding`
        (cached): a ball of radius r around a slot's `probe` holds everyone whose cost there
        (before any team discount) is below r."""
        key = (skills, shift, weights.km, weights.hour)
        built = self._index.get(key)
        if built is None:
            idx = np.flatnonzero(self.eligible_mask(skills, shift))
            built = self._index[key] = idx, cKDTree(self.embedding(weights)[idx])
        return built

    def distance_km(self, idx: IntArray, lat: float, lon: float) -> FloatArray:
        """Great-circle distance from (lat, lon) to the candidates at `idx`."""
        point = unit_vectors(np.array([lat]), np.array([lon]))[0]
        return chord_to_km(np.linalg.norm(self.xyz[idx] - point, axis=1))


def as_pool(candidates: Iterable[Candidate] | CandidatePool) -> CandidatePool:
    return candidates if isinstance(candidates, CandidatePool) else CandidatePool(candidates)


def arc_costs(
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


def make_match(
    pool: CandidatePool, i: int, slot: Slot, dist: float, cost: float, lead: bool
) -> Match:
    return Match(
        slot_id=slot.slot_id,
        task_id=slot.task_id,
        volunteer_id=int(pool.ids[i]),
        distance_km=float(dist),
        cost=float(cost),
        reason=_reason(pool, i, slot, dist, lead),
    )


REBUILD_AFTER = 256
#: up to this many queries, measuring all distances beats building a KD-tree
BRUTE_MAX_QUERIES = 24


class Nearest:
    """k-nearest queries on unit vectors: a KD-tree, or plain numpy for a handful of queries."""

    def __init__(self, xyz: FloatArray, *, brute: bool, tree: cKDTree | None = None) -> None:
        self.xyz, self.brute = xyz, brute and tree is None
        self.tree = tree if tree is not None or brute else cKDTree(xyz)

    def query(self, point: FloatArray, k: int) -> tuple[FloatArray, IntArray]:
        """Chord lengths and positions of the k nearest, nearest first."""
        if self.tree is not None:
            chord, pos = self.tree.query(point, k=k)
            return np.atleast_1d(chord), np.atleast_1d(pos).astype(np.int64)
        dist = np.linalg.norm(self.xyz - point, axis=1)
        pos = np.argpartition(dist, k - 1)[:k] if k < dist.size else np.arange(dist.size)
        pos = pos[np.argsort(dist[pos], kind="stable")]
        return dist[pos], pos.astype(np.int64)
