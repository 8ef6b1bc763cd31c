"""Segment counting, templates, and queueing/recording messages in the caller's transaction."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from coordinator.sms import service
from coordinator.sms.models import SmsMessage
from coordinator.sms.service import InvalidMessage, queue_outbound, record_inbound, segments
from coordinator.sms.templates import render
from coordinator.volunteers.service import InvalidPhone
from events.outbox import OutboxEvent

TYPICAL = {
    "task": "道路除冰",
    "place": "黔灵西路坡道",
    "window": "1月5日08:00-12:00",
    "code": "A7K",
    "minutes": 10,
    "codes": ["A7K", "C3M"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, "GSM-7")),
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),
        ("a" * 306, (2, "GSM-7")),
        ("a" * 307, (3, "GSM-7")),
        ("[" * 80, (1, "GSM-7")),  # extension characters cost two septets
        ("[" * 81, (2, "GSM-7")),
        ("暖" * 70, (1, "UCS-2")),
        ("暖" * 71, (2, "UCS-2")),
        ("暖" * 134, (2, "UCS-2")),
        ("暖" * 135, (3, "UCS-2")),
        ("a" * 69 + "暖", (1, "UCS-2")),
        ("😀" * 35, (1, "UCS-2")),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, (2, "UCS-2")),
    ],
)
def test_segments(text: str, expected: tuple[int, str]) -> None:
    assert segments(text) == expected


def test_offers_say_how_to_reply() -> None:
    zh = render("offer", **TYPICAL)
    assert "回复1接受" in zh and "2拒绝" in zh and "TD退订" in zh and "A7K" in zh
    assert "Reply 1" in render("offer", "en", **TYPICAL)


def test_render_refuses_missing_parameter_and_unknown_template() -> None:
    with pytest.raises(KeyError):
        render("offer", "zh", task="x")
    with pytest.raises(KeyError):
        render("nonsense", "zh")


def test_unknown_language_falls_back_to_chinese() -> None:
    assert render("help", "fr") == render("help", "zh")
    assert render("help", "en-GB") == render("help", "en")


def test_queue_outbound_is_part_of_the_callers_transaction(session: Session) -> None:
    service.WAKE.clear()
    row = queue_outbound(session=session, phone="13800138000", body=render("help"), kind="help")
    session.flush()
    assert row.id is not None and row.status == "queued" and row.phone == "+8613800138000"
    assert (row.segments, row.encoding) == (1, "UCS-2")
    assert not service.WAKE.is_set()  # nothing to deliver until the caller commits
    session.rollback()
    assert session.exec(select(SmsMessage)).all() == []
    assert not service.WAKE.is_set()
    queue_outbound(session=session, phone="+8613800138000", body="hi")
    session.commit()
    assert service.WAKE.is_set()
    assert len(session.exec(select(SmsMessage)).all()) == 1


def test_queue_template_keeps_template_and_params(session: Session) -> None:
    row = service.queue_template(
        session=session,
        phone="+8613800138000",
        template="which_offer",
        lang="en",
        codes=["A7K", "C3M"],
    )
    # the English template is a template of its own; only its variables are kept
    assert row.template == "which_offer.en"
    assert row.params == {"codes": "A7K, C3M", "example": "A7K"}
    assert row.kind == "which_offer" and "A7K, C3M" in row.body


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_text_sent_once_is_known_as_queued_in_either_language(
    session: Session, lang: str
) -> None:
    """The no-show reminder goes once: an English volunteer's (template `….en`) counts too,
    or every sweep would text them again."""
    assert not service.was_queued(session=session, assignment_id=7, template="no_show_warning")
    service.queue_template(
        session=session,
        phone="+8613800138000",
        template="no_show_warning",
        lang=lang,
        assignment_id=7,
        task="路面除冰",
        start="07:00",
        code="A7K",
    )
    session.flush()
    assert service.was_queued(session=session, assignment_id=7, template="no_show_warning")
    assert not service.was_queued(session=session, assignment_id=8, template="no_show_warning")


@pytest.mark.parametrize(
    ("phone", "body", "error"),
    [
        ("12345", "hi", InvalidPhone),
        ("", "hi", InvalidPhone),
        ("+861380013800099999999999999999999999", "hi", InvalidPhone),
        ("+8613800138000", "", InvalidMessage),
        ("+8613800138000", "   ", InvalidMessage),
        ("+8613800138000", "x" * 1601, InvalidMessage),
        ("+8613800138000", "bell\x07", InvalidMessage),
        ("+8613800138000", "half\ud800", InvalidMessage),
    ],
)
def test_queue_outbound_refuses_bad_input(
    session: Session, phone: str, body: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        queue_outbound(session=session, phone=phone, body=body)


def test_record_inbound_stores_and_stages_event(session: Session) -> None:
    row = record_inbound(session=session, phone="+86 138 0013 8000", body="１", provider_sid="SM1")
    session.commit()
    assert (row.direction, row.status, row.phone, row.volunteer_id) == (
        "inbound",
        "received",
        "+8613800138000",
        None,
    )
    [event] = session.exec(select(OutboxEvent)).all()
    assert event.type == "nuanliu.sms.received"
    # the parser's one reading travels with the text (schema version 2)
    assert json.loads(event.data) == {
        "message_id": row.id,
        "phone": "+8613800138000",
        "body": "１",
        "intent": "accept",
        "code": None,
        "rest": "",
    }


def test_record_inbound_accepts_landline_sender_and_links_volunteer(session: Session) -> None:
    from coordinator.volunteers.models import Volunteer

    vol = Volunteer(name="张三", phone="+8613800138000", lat=26.6, lon=106.7)
    session.add(vol)
    session.flush()
    assert record_inbound(session=session, phone="13800138000", body="1").volunteer_id == vol.id
    assert record_inbound(session=session, phone="085186812345", body="1").phone == "+8685186812345"


def test_apply_status_never_moves_back(session: Session) -> None:
    row = queue_outbound(session=session, phone="+8613800138000", body="hi")
    row.status = "sent"
    assert service.apply_status(session=session, message=row, status="delivered")
    assert not service.apply_status(session=session, message=row, status="sent")
    assert not service.apply_status(session=session, message=row, status="failed")
    assert not service.apply_status(session=session, message=row, status="bogus")
    assert row.status == "delivered"
