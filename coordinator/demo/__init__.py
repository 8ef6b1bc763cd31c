"""The Guiyang demo data (see shared/seed/BRIEF.md): districts, a 3,446-strong roster, the
homeward-journey stations, the seed's item catalogue, a central warehouse. Loaded on the first
start unless `--empty`; every generated value comes from a seeded RNG, so runs are repeatable.

Domains that own more demo data (stock, the fund, playbooks) have a step in `DEMO_STEPS`; a
step gets the session, the seeded RNG and the demo's phone-number maker.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

from rich.progress import Progress
from sqlmodel import Session, select

from coordinator.geo.models import District
from coordinator.geo.service import EARTH_RADIUS_KM
from coordinator.logistics.demo import load_logistics_demo
from coordinator.logistics.models import Item, Place
from coordinator.volunteers.models import Team, Volunteer
from coordinator.volunteers.service import normalise_phone

DATA = json.loads((Path(__file__).parent / "guiyang.json").read_text(encoding="utf-8"))

#: the union's mass-work volunteers recruited in 2013 (seed)
ROSTER_SIZE = 3446
SKILLS = ["de_icing", "elderly_care", "first_aid", "driving", "traffic", "legal_aid", "logistics"]
SKILL_WEIGHTS = [0.55, 0.35, 0.15, 0.12, 0.2, 0.05, 0.2]

#: makes a demo mobile number not in `used` (and adds it)
PhoneMaker = Callable[[random.Random, set[str]], str]
DemoStep = Callable[[Session, random.Random, PhoneMaker], None]


def is_loaded(session: Session) -> bool:
    return session.exec(select(District)).first() is not None


def load_places(session: Session) -> None:
    for d in DATA["districts"]:
        session.add(District(**d))
    for item in DATA["items"]:
        session.add(Item(**item))
    for place in DATA["places"]:
        session.add(Place(**place))
    session.flush()


def _point_near(
    rng: random.Random, lat: float, lon: float, radius_km: float
) -> tuple[float, float]:
    # 0.98: stay inside the circle despite the flat-earth step below
    r = 0.98 * radius_km * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    km_per_degree = EARTH_RADIUS_KM * math.pi / 180
    dlat = (r * math.cos(theta)) / km_per_degree
    dlon = (r * math.sin(theta)) / (km_per_degree * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def make_phone(rng: random.Random, used: set[str]) -> str:
    prefixes = DATA["mobile_prefixes"]
    while True:
        raw = f"{rng.choice(prefixes)}{rng.randrange(10**8):08d}"
        try:
            e164 = normalise_phone(raw)
        except ValueError:
            continue
        if e164 not in used:
            used.add(e164)
            return e164


#: the domains' own demo data, loaded after the places and the roster, in this order
DEMO_STEPS: tuple[DemoStep, ...] = (load_logistics_demo,)


def generate_volunteers(
    session: Session, rng: random.Random, count: int = ROSTER_SIZE, *, progress: bool = False
) -> None:
    districts = list(session.exec(select(District)).all())
    weights = [DATA["volunteer_share"][d.code] for d in districts]
    teams: dict[str, list[Team]] = {}
    for d in districts:
        teams[d.code] = []
        for n in range(1, 5):
            team = Team(name=f"{d.name_zh}职工志愿服务{n}队", district_code=d.code)
            session.add(team)
            teams[d.code].append(team)
    session.flush()
    surnames, given = DATA["surnames"], DATA["given_chars"]
    used: set[str] = set()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("volunteers", total=count)
        for _ in range(count):
            d = rng.choices(districts, weights)[0]
            lat, lon = _point_near(rng, d.lat, d.lon, d.radius_km)
            skills = [s for s, w in zip(SKILLS, SKILL_WEIGHTS, strict=True) if rng.random() < w]
            name = rng.choice(surnames) + "".join(
                rng.choice(given) for _ in range(rng.choice((1, 2)))
            )
            member_of = rng.choice(teams[d.code]) if rng.random() < 0.3 else None
            session.add(
                Volunteer(
                    name=name,
                    phone=make_phone(rng, used),
                    district_code=d.code,
                    lat=lat,
                    lon=lon,
                    skills=skills,
                    language="en" if rng.random() < 0.02 else "zh",
                    team_id=member_of.id if member_of else None,
                    recent_hours=round(rng.expovariate(1 / 6.0), 1),
                )
            )
            bar.advance(task)
    session.flush()


def load_demo(session: Session, *, seed: int = 20140105, progress: bool = False) -> bool:
    """Load the demo data into an empty database; returns False if data was already there."""
    if is_loaded(session):
        return False
    rng = random.Random(seed)
    load_places(session)
    generate_volunteers(session, rng, progress=progress)
    for step in DEMO_STEPS:
        step(session, rng, make_phone)
    session.commit()
    return True
