"""What the matching takes and gives: slots, candidates, matches and the weights of its cost."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
    #: (skill, shift) pairs where a skill held has expired by the shift's end (its
    #: certificate lapsed): for that shift the volunteer counts as not having it
    lapsed: frozenset[tuple[str, str]] = frozenset()


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
