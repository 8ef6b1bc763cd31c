"""Skills that expire (issue 15, item 6): the expiry stored from an import or the API, the
matching leaving an expired skill out at the shift's time, and the one SMS 30 days before."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.config import Settings
from coordinator.db import make_engine
from coordinator.dispatch.flows.offers import offer_open_slots, refill_slot
from coordinator.dispatch.models import Assignment
from coordinator.scheduling import JobContext, NoTimers
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import SkillExpiry, Volunteer
from coordinator.volunteers.skills import lapsed_pairs, split_inline
from nuanliu.scheduler import run_job
from tests.dispatch.helpers import add_task

ZONE = ZoneInfo("Asia/Shanghai")
CSV_HEADER = "姓名,手机,区县,技能\n"


def _volunteer(session: Session, phone: str, lat: float, skills: list[str]) -> Volunteer:
    v = Volunteer(name=phone[-4:], phone=phone, lat=lat, lon=106.7, skills=skills)
    session.add(v)
    session.flush()
    return v


def _expiry(session: Session, volunteer: Volunteer, skill: str, day: date) -> None:
    assert volunteer.id is not None
    session.add(SkillExpiry(volunteer_id=volunteer.id, skill=skill, expires_on=day))
    session.flush()


def _local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


# -- how an expiry is written --------------------------------------------------------------
def test_the_inline_form_and_its_bad_data() -> None:
    names, dates = split_inline(
        ["急救:2027-03-01", "驾驶", "健康证：２０２７-１２-３１", "x : 2030.1.2"]
    )
    assert names == ["急救", "驾驶", "健康证", "x"]
    assert dates == {"急救": date(2027, 3, 1), "健康证": date(2027, 12, 31), "x": date(2030, 1, 2)}
    from coordinator.volunteers.errors import InvalidVolunteer

    for bad in ("急救:2027-02-30", "急救:tomorrow", "急救:0227-03-01", "急救:2027-03-01-02"):
        with pytest.raises(InvalidVolunteer) as caught:
            split_inline([bad])
        assert caught.value.column == "skills"


def test_import_stores_the_expiry_and_reports_bad_dates(api, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    body = (
        CSV_HEADER
        + "张一,13800138001,云岩区,急救:2027-03-01、驾驶\n"
        + "张二,13800138002,云岩区,急救:2027-02-30\n"
        + "张三,13800138003,云岩区,急救：２０２８-０１-０１\n"
        + "张四,13800138004,云岩区,除冰\n"
    )
    r = api.client.post(
        "/api/volunteers/import",
        content=body.encode(),
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["created"] == 3
    assert [(e["row"], e["column"]) for e in out["errors"]] == [(3, "skills")]
    assert "2027-02-30" in out["errors"][0]["message"]
    with Session(engine) as s:
        rows = {
            (v.name, e.skill): e.expires_on
            for e, v in s.exec(
                select(SkillExpiry, Volunteer).join(
                    Volunteer, col(Volunteer.id) == SkillExpiry.volunteer_id
                )
            ).all()
        }
        # the skills list keeps its plain names (the format other code reads)
        skills = {v.name: v.skills for v in s.exec(select(Volunteer)).all()}
    assert rows == {
        ("张一", "first_aid"): date(2027, 3, 1),
        ("张三", "first_aid"): date(2028, 1, 1),
    }
    assert skills["张一"] == ["first_aid", "driving"]
    assert skills["张四"] == ["de_icing"]


def test_api_sets_and_clears_an_expiry(api, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    r = api.client.post(
        "/api/volunteers",
        json={
            "name": "李四",
            "phone": "13800138011",
            "district": "云岩区",
            "skills": ["急救", "驾驶"],
            "skill_expiry": {"急救": "2027-05-01"},
        },
        headers=api.headers,
    )
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    assert r.json()["skills"] == ["first_aid", "driving"]
    url = f"/api/volunteers/{vid}/skill-expiry"
    r = api.client.put(url, json={"skill": "驾驶", "expires_on": "2026-12-31"}, headers=api.headers)
    assert r.status_code == 200, r.text
    assert r.json()["skill_expiry"] == {"first_aid": "2027-05-01", "driving": "2026-12-31"}
    r = api.client.put(url, json={"skill": "first_aid", "expires_on": None}, headers=api.headers)
    assert r.json()["skill_expiry"] == {"driving": "2026-12-31"}
    assert api.client.get(url, headers=api.headers).json()["skill_expiry"] == {
        "driving": "2026-12-31"
    }
    # bad data: a skill they lack, a date that is no date, a missing field, a wild year
    for body, status in (
        ({"skill": "legal_aid", "expires_on": "2027-01-01"}, 422),
        ({"skill": "driving", "expires_on": "2027-13-01"}, 422),
        ({"skill": "driving"}, 422),
        ({"skill": "driving", "expires_on": "1066-10-14"}, 422),
    ):
        r = api.client.put(url, json=body, headers=api.headers)
        assert r.status_code == status, (body, r.text)
    r = api.client.post(
        "/api/volunteers",
        json={
            "name": "王五",
            "phone": "13800138012",
            "district": "云岩区",
            "skills": ["驾驶"],
            "skill_expiry": {"急救": "2027-05-01"},
        },
        headers=api.headers,
    )
    assert r.status_code == 422 and r.json()["detail"]["column"] == "skill_expiry"
    with Session(engine) as s:
        assert s.exec(select(Volunteer).where(Volunteer.phone == "+8613800138012")).first() is None
        left = s.exec(select(SkillExpiry)).all()
    assert [(e.skill, e.expires_on) for e in left] == [("driving", date(2026, 12, 31))]


# -- the matching, at the shift's time -----------------------------------------------------
def test_lapsed_pairs_count_the_whole_shift() -> None:
    d = date(2027, 3, 1)
    shifts = {
        "on": (_local(d, 6), _local(d, 14)),
        "over_midnight": (_local(d, 20), _local(d + timedelta(days=1), 4)),
        "after": (_local(d + timedelta(days=1), 6), _local(d + timedelta(days=1), 14)),
    }
    got = lapsed_pairs({"first_aid": d}, shifts, "Asia/Shanghai")
    assert got == {("first_aid", "over_midnight"), ("first_aid", "after")}


def test_an_expired_first_aider_gets_no_first_aid_slot(
    session: Session, settings: Settings
) -> None:
    """Nearest has first aid expiring the day before the shift; the next one's expires the
    day after. The matching sends the second, though the first is nearer; a slot with no
    skill still goes to the nearest, whose other skills do not matter."""
    shift_day = date.today() + timedelta(days=10)
    start = _local(shift_day, 8)
    near = _volunteer(session, "+8613800138101", 26.6001, ["first_aid"])
    far = _volunteer(session, "+8613800138102", 26.62, ["first_aid"])
    _expiry(session, near, "first_aid", shift_day - timedelta(days=1))
    _expiry(session, far, "first_aid", shift_day + timedelta(days=1))
    task = add_task(
        session,
        slots=1,
        skills=["first_aid"],
        starts_in=start - datetime.now(ZONE),
        lasts=timedelta(hours=4),
    )
    offers = offer_open_slots(session=session, tasks=[task], settings=settings)
    assert [o.volunteer_id for o in offers] == [far.id]
    # the refill path reads the expiries too: with `far` gone, nobody certified is left
    session.exec(select(Assignment)).one().status = "declined"
    session.flush()
    assert refill_slot(session=session, task_id=task.id or 0, slot=0, settings=settings) is None
    # a slot without skills goes to the nearest: the expiry matters only for its skill
    plain = add_task(
        session,
        slots=1,
        plan_key="plain",
        starts_in=start - datetime.now(ZONE),
        lasts=timedelta(hours=4),
    )
    offers = offer_open_slots(session=session, tasks=[plain], settings=settings)
    assert [o.volunteer_id for o in offers] == [near.id]


def test_a_certificate_valid_today_does_not_cover_a_later_shift(
    session: Session, settings: Settings
) -> None:
    """Valid now, lapsed by the shift: the shift's time decides, not today's."""
    shift_day = date.today() + timedelta(days=5)
    v = _volunteer(session, "+8613800138111", 26.6, ["first_aid"])
    _expiry(session, v, "first_aid", shift_day - timedelta(days=2))
    task = add_task(
        session,
        slots=1,
        skills=["first_aid"],
        starts_in=_local(shift_day, 9) - datetime.now(ZONE),
    )
    assert offer_open_slots(session=session, tasks=[task], settings=settings) == []


# -- the reminder ----------------------------------------------------------------------------
def _reminders(engine: Engine) -> list[SmsMessage]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(SmsMessage).where(col(SmsMessage.template).startswith("skill_expiring"))
            ).all()
        )


def test_the_30_day_text_goes_once_across_runs_and_a_restart(
    settings: Settings, engine: Engine
) -> None:
    today = datetime.now(ZONE).date()
    with Session(engine) as s:
        soon = _volunteer(s, "+8613800138121", 26.6, ["first_aid", "driving"])
        later = _volunteer(s, "+8613800138122", 26.6, ["first_aid"])
        gone = _volunteer(s, "+8613800138123", 26.6, ["first_aid"])
        gone.opted_out = True
        english = _volunteer(s, "+8613800138124", 26.6, ["driving"])
        english.language = "en"
        _expiry(s, soon, "first_aid", today + timedelta(days=30))
        _expiry(s, soon, "driving", today + timedelta(days=12))
        _expiry(s, later, "first_aid", today + timedelta(days=31))
        _expiry(s, gone, "first_aid", today + timedelta(days=3))
        _expiry(s, english, "driving", today + timedelta(days=1))
        s.commit()
    context = JobContext(settings=settings, engine=engine, timers=NoTimers())
    assert run_job("volunteers-skill-expiry", context) == 3
    assert run_job("volunteers-skill-expiry", context) == 0
    # a restart: a new process, a new engine, the job runs again at start
    engine.dispose()
    fresh = make_engine(settings)
    try:
        again = JobContext(settings=settings, engine=fresh, timers=NoTimers())
        assert run_job("volunteers-skill-expiry", again) == 0
        texts = _reminders(fresh)
        assert {(m.phone, m.body) for m in texts} == {
            (
                "+8613800138121",
                f"【暖流】您的驾驶证书将于{today + timedelta(days=12)}到期（还有12天）。"
                "到期后不再安排需要该资质的任务，请及时复审。",
            ),
            (
                "+8613800138121",
                f"【暖流】您的急救证书将于{today + timedelta(days=30)}到期（还有30天）。"
                "到期后不再安排需要该资质的任务，请及时复审。",
            ),
            (
                "+8613800138124",
                f"Nuanliu: your driving certificate expires on {today + timedelta(days=1)} "
                "(in 1 days). After that we will not ask you for work that needs it; "
                "please renew it.",
            ),
        }
        # a renewed certificate is a new expiry: its reminder falls due again
        with Session(fresh) as s:
            row = s.exec(select(SkillExpiry).where(SkillExpiry.skill == "driving")).first()
            assert row is not None
            row.expires_on = today + timedelta(days=20)
            s.add(row)
            s.commit()
        assert run_job("volunteers-skill-expiry", again) >= 1
        assert run_job("volunteers-skill-expiry", again) == 0
    finally:
        fresh.dispose()


def test_two_processes_at_once_send_one_text(
    settings: Settings, engine: Engine, on_postgres: None
) -> None:
    """Two sessions claim the same rows concurrently (PostgreSQL row locks): one text."""
    import threading

    from coordinator.volunteers.skill_reminders import remind_expiring

    today = datetime.now(ZONE).date()
    with Session(engine) as s:
        for i in range(20):
            v = _volunteer(s, f"+86138001382{i:02d}", 26.6, ["first_aid"])
            _expiry(s, v, "first_aid", today + timedelta(days=5))
        s.commit()
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with Session(engine) as s:
            barrier.wait()
            counts.append(remind_expiring(session=s, today=today))
            s.commit()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 20
    assert len(_reminders(engine)) == 20
