"""Joining by SMS (issue 15, item 1): `报名 姓名 区 [技能…]` read in every form people type,
the approval queue, approve/decline by a dispatcher and the texts that tell the person, the
polite refusals and the flood limit, and that nobody pending is ever offered work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.sms.models import SmsMessage
from coordinator.sms.replies import parse_reply, signup_fields
from coordinator.volunteers.models import Volunteer
from tests.dispatch.helpers import handle_text

STRANGER = "+8613900001234"


def _answers(s: Session, phone: str) -> list[tuple[str, str]]:
    rows = s.exec(
        select(SmsMessage)
        .where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
        .order_by(col(SmsMessage.id))
    ).all()
    return [(m.kind, m.body) for m in rows]


def _person(s: Session, phone: str = STRANGER) -> Volunteer | None:
    return s.exec(select(Volunteer).where(Volunteer.phone == phone)).first()


# -- the parser ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "name", "district", "skills"),
    [
        ("报名 张三 云岩区", "张三", "云岩区", ()),
        ("报名 张三 云岩区 急救 驾驶", "张三", "云岩区", ("急救", "驾驶")),
        ("报名　张三　云岩区", "张三", "云岩区", ()),  # ideographic spaces
        ("报名：张三，云岩区、急救。", "张三", "云岩区", ("急救",)),  # Chinese punctuation
        ("  报名张三   南明  ", "张三", "南明", ()),  # the keyword runs into the name
        ("【报名】张三 花溪区", "张三", "花溪区", ()),
        ("\u200b报名 李四 520103", "李四", "520103", ()),  # a zero-width space, a code
        ("ＪＯＩＮ Zhang Yunyan first_aid", "Zhang", "Yunyan", ("first_aid",)),  # full-width
        ("join Zhang Yunyan", "Zhang", "Yunyan", ()),
    ],
)
def test_signup_forms_are_read(
    text: str, name: str, district: str, skills: tuple[str, ...]
) -> None:
    reply = parse_reply(text)
    assert reply.intent == "signup"
    fields = signup_fields(reply.rest)
    assert fields is not None
    assert (fields.name, fields.district, fields.skills) == (name, district, skills)


@pytest.mark.parametrize("text", ["报名", "报名 张三", "报名张三云岩区", "报名，，，", "JOIN"])
def test_signup_without_name_and_district_is_a_signup_without_fields(text: str) -> None:
    reply = parse_reply(text)
    assert reply.intent == "signup"
    assert signup_fields(reply.rest) is None


@pytest.mark.parametrize("text", ["我要报名", "JOINED", "JOINT 1", "名报 张三 云岩区"])
def test_not_a_signup(text: str) -> None:
    assert parse_reply(text).intent != "signup"


# -- the reply handler --------------------------------------------------------------------------
def test_a_stranger_signs_up_and_waits_inactive(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        assert handle_text(s, STRANGER, "报名 张三 云岩区 急救 驾驶") == "signed_up"
        s.commit()
        v = _person(s)
        assert v is not None
        assert (v.name, v.district_code, v.status, v.active, v.source) == (
            "张三",
            "520103",
            "pending",
            False,
            "sms",
        )
        assert v.skills == ["first_aid", "driving"]
        [(kind, body)] = _answers(s, STRANGER)
        assert kind == "signup_received" and "张三" in body and "审核" in body


def test_signup_in_english_is_answered_in_english(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        assert handle_text(s, STRANGER, "JOIN Zhang Nanming") == "signed_up"
        v = _person(s)
        assert v is not None and v.language == "en" and v.district_code == "520102"
        [(_, body)] = _answers(s, STRANGER)
        assert body.startswith("Nuanliu: Zhang, we got your sign-up")
        s.rollback()


@pytest.mark.parametrize(
    ("text", "kind", "says"),
    [
        ("报名", "signup_format", "报名 姓名 区县"),
        ("报名 张三", "signup_format", "报名 姓名 区县"),
        ("报名 张三 火星区", "signup_bad_district", "火星区"),
        ("报名 " + "张" * 70 + " 云岩区", "signup_format", "报名 姓名 区县"),  # name too long
    ],
)
def test_bad_signups_store_nothing_and_say_how(
    engine: Any, demo: None, text: str, kind: str, says: str
) -> None:
    with Session(engine) as s:
        assert handle_text(s, STRANGER, text) == "signup_refused"
        assert _person(s) is None
        [(sent, body)] = _answers(s, STRANGER)
        assert sent == kind and says in body
        s.rollback()


def test_strangers_are_told_how_to_sign_up(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        assert handle_text(s, STRANGER, "你好") == "unknown_number"
        [(kind, body)] = _answers(s, STRANGER)
        assert kind == "unknown_number" and "报名 姓名 区县" in body
        s.rollback()


def test_a_landline_cannot_sign_up(engine: Any, demo: None) -> None:
    landline = "+8685112345678"
    with Session(engine) as s:
        assert handle_text(s, landline, "报名 张三 云岩区") == "ignored"
        assert _person(s, landline) is None
        s.rollback()


def test_duplicates_are_refused_politely(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        existing = s.exec(select(Volunteer).where(Volunteer.status == "active")).first()
        assert existing is not None
        assert handle_text(s, existing.phone, "报名 王五 云岩区") == "signup_refused"
        assert existing.name != "王五"
        assert [k for k, _ in _answers(s, existing.phone)] == ["signup_duplicate"]
        # a pending one who texts again, with anything
        assert handle_text(s, STRANGER, "报名 张三 云岩区") == "signed_up"
        assert handle_text(s, STRANGER, "报名 张三丰 南明区") == "signup_refused"
        assert handle_text(s, STRANGER, "1") == "not_approved"
        v = _person(s)
        assert v is not None and v.name == "张三" and v.district_code == "520103"
        kinds = [k for k, _ in _answers(s, STRANGER)]
        assert kinds == ["signup_received", "signup_pending", "signup_pending"]
        s.rollback()


def test_a_flood_of_signups_from_one_number_is_limited(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        outcomes = [handle_text(s, STRANGER, f"报名 张三{n} 云岩区") for n in range(30)]
        outcomes += [handle_text(s, STRANGER, "报名 乱码") for _ in range(10)]
        s.commit()
        assert outcomes[0] == "signed_up"
        assert set(outcomes[1:]) == {"signup_refused"}
        assert s.exec(select(Volunteer).where(col(Volunteer.phone) == STRANGER)).all() == [
            _person(s)
        ]
        kinds = [k for k, _ in _answers(s, STRANGER)]
        # the confirmation, then three automatic answers an hour (NUANLIU_AUTO_ANSWER_LIMIT)
        assert kinds == ["signup_received"] + ["signup_pending"] * 3
    # an hour on, one more answer
    with Session(engine) as s:
        later = utcnow() + timedelta(minutes=61)
        assert handle_text(s, STRANGER, "报名 张三 云岩区", now=later) == "signup_refused"
        assert [k for k, _ in _answers(s, STRANGER)][-1] == "signup_pending"
        s.rollback()


def test_many_strangers_each_get_one_place(engine: Any, demo: None) -> None:
    phones = [f"+86139000020{n:02d}" for n in range(40)]
    with Session(engine) as s:
        for phone in phones:
            assert handle_text(s, phone, "报名 志愿者 白云区 除冰") == "signed_up"
        s.commit()
        pending = s.exec(select(Volunteer).where(Volunteer.status == "pending")).all()
        assert sorted(v.phone for v in pending) == sorted(phones)


# -- nobody pending is asked for work -----------------------------------------------------------
def test_pending_and_declined_volunteers_are_never_candidates(engine: Any, demo: None) -> None:
    from coordinator.dispatch import candidates

    with Session(engine) as s:
        handle_text(s, STRANGER, "报名 张三 云岩区 除冰")
        handle_text(s, "+8613900005678", "报名 李四 云岩区 除冰")
        s.flush()
        waiting = {v.id for v in s.exec(select(Volunteer).where(Volunteer.status != "active"))}
        assert len(waiting) == 2
        rows = candidates.candidate_rows(session=s)
        assert rows and not waiting & {r[0] for r in rows}
        near = candidates.nearest_candidate_rows(
            session=s, lat=26.58, lon=106.71, task_id=0, limit=100_000
        )
        assert near and not waiting & {r[0] for r in near}
        # even a row whose `active` flag was set by mistake stays out while pending
        for v in s.exec(select(Volunteer).where(Volunteer.status == "pending")):
            v.active = True
            s.add(v)
        s.flush()
        assert not waiting & {r[0] for r in candidates.candidate_rows(session=s)}
        s.rollback()
