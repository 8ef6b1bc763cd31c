"""Fairness and team cohesion in a refill, on a roster of a few hand-placed volunteers: hours a
volunteer has already given here count against asking them again, and a team task's free
slot goes to the team already working it before a nearer stranger."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.common import utcnow
from coordinator.config import Settings
from coordinator.dispatch import candidates as eligible
from coordinator.dispatch.flows import offers
from coordinator.dispatch.models import Task
from coordinator.volunteers.models import Team, Volunteer
from tests.dispatch.helpers import add_assignment, add_task

KM = 1 / 111.0  # degrees of latitude in a kilometre


def _volunteer(s: Session, n: int, km: float, **fields: object) -> Volunteer:
    v = Volunteer(
        name=f"志愿者{n}", phone=f"+861380000{n:04d}", lat=26.6 + km * KM, lon=106.7, **fields
    )
    s.add(v)
    s.flush()
    return v


def _holds(s: Session, task: Task, volunteer: Volunteer, slot: int, status: str) -> None:
    add_assignment(s, task, volunteer.id, slot=slot, status=status, code=f"C{task.id}{slot}")


def test_hours_given_this_morning_count_against_asking_again(
    engine: Engine, settings: Settings
) -> None:
    now = utcnow()
    with Session(engine) as s:
        near = _volunteer(s, 1, km=0.3)
        farther = _volunteer(s, 2, km=0.8)
        morning = add_task(s, now=now, starts_in=timedelta(hours=-6), lasts=timedelta(hours=4))
        _holds(s, morning, near, 0, "completed")
        # 4 h served weigh 0.8 km at the default weights: 0.3 + 0.8 > 0.8
        assert eligible.served_hours(session=s, now=now) == {near.id: 4.0}
        task = add_task(s, now=now)
        offer = offers.refill_slot(session=s, task_id=task.id or 0, slot=0, settings=settings)
        assert offer is not None and offer.volunteer_id == farther.id


def test_hours_older_than_the_window_or_declined_do_not_count(engine: Engine) -> None:
    now = utcnow()
    with Session(engine) as s:
        v = _volunteer(s, 3, km=0.1)
        old = add_task(s, now=now, starts_in=-eligible.SERVED_WINDOW - timedelta(days=1))
        _holds(s, old, v, 0, "completed")
        declined = add_task(s, now=now)
        _holds(s, declined, v, 0, "declined")
        assert eligible.served_hours(session=s, now=now) == {}


def test_a_team_tasks_free_slot_goes_to_the_team_already_on_it(
    engine: Engine, settings: Settings
) -> None:
    now = utcnow()
    with Session(engine) as s:
        team = Team(name="白云区总工会")
        s.add(team)
        s.flush()
        working = _volunteer(s, 4, km=2.0, team_id=team.id)
        stranger = _volunteer(s, 5, km=1.0)
        teammate = _volunteer(s, 6, km=3.0, team_id=team.id)
        task = add_task(s, now=now, slots=2, team_task=True)
        _holds(s, task, working, 0, "accepted")
        offer = offers.refill_slot(session=s, task_id=task.id or 0, slot=1, settings=settings)
        assert offer is not None and offer.volunteer_id == teammate.id
        assert stranger.id != offer.volunteer_id
