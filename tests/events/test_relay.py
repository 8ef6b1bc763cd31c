"""The relay: what it publishes is what the CloudEvents binding would produce for the staged
event, and on PostgreSQL only one relay publishes while others wait as standbys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from events.envelope import encode, encode_stored
from events.outbox import OutboxEvent, Relay, stage
from events.payloads.incidents import IncidentClosed
from events.payloads.sms import SmsReceived
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(
    body=TEXT,
    phone=st.from_regex(r"\+86139\d{8}", fullmatch=True),
    micros=st.integers(0, 999_999),
    message_id=st.integers(1, 2**40),
)
def test_a_stored_event_is_encoded_as_the_binding_encodes_it(
    body: str, phone: str, micros: int, message_id: int
) -> None:
    row = OutboxEvent(
        **{
            "event_id": "e-1",
            "topic": "sms",
            "type": SmsReceived.TYPE,
            "key": phone,
            "subject": phone,
            "data": json.dumps(
                {"message_id": message_id, "phone": phone, "body": body}, ensure_ascii=False
            ),
            "schema_version": 1,
            "created_at": datetime(2026, 11, 30, 8, 0, 0, micros, tzinfo=UTC),
        }
    )
    key, value, headers = encode_stored(
        event_id=row.event_id,
        type_=row.type,
        subject=row.subject,
        key=row.key,
        time=row.created_at,
        schema_version=row.schema_version,
        data_json=row.data,
    )
    sdk_key, sdk_value, sdk_headers = encode(row.envelope())
    assert key == sdk_key
    assert dict(headers) == dict(sdk_headers)
    assert json.loads(value) == json.loads(sdk_value)


def test_an_event_without_subject_or_key_and_a_naive_time(engine: Engine) -> None:
    # SQLite hands the time back without an offset: it is UTC
    stamp = datetime(2026, 1, 5, 7, 30)
    key, _, headers = encode_stored(
        event_id="e-2",
        type_=IncidentClosed.TYPE,
        subject=None,
        key=None,
        time=stamp,
        schema_version=1,
        data_json="{}",
    )
    assert key is None and "ce_subject" not in dict(headers)
    assert dict(headers)["ce_time"] == b"2026-01-05T07:30:00Z"


def test_one_relay_publishes_the_others_wait_and_one_takes_over(
    engine: Engine, settings, broker, on_postgres: None
) -> None:
    first = Relay(engine, broker.bootstrap, settings.topic_prefix, idle_s=0.05)
    second = Relay(engine, broker.bootstrap, settings.topic_prefix, idle_s=0.05)
    second.LEADER_CHECK_S = 0.1
    first.start()
    wait_for(lambda: first._leader, timeout=20)
    second.start()
    try:
        with Session(engine) as s:
            for n in range(20):
                stage(s, IncidentClosed(incident_id=n, reason="test"))
            s.commit()
        wait_for(lambda: _unpublished(engine) == 0, timeout=30)
        assert first.published >= 20 and second.published == 0
        assert not second._leader
        first.stop()  # the leader goes: its lock goes with its connection
        with Session(engine) as s:
            stage(s, IncidentClosed(incident_id=99, reason="after"))
            s.commit()
        wait_for(lambda: second.published == 1, timeout=30)
        assert second._leader
    finally:
        first.stop()
        second.stop()


def _unpublished(engine: Engine) -> int:
    with Session(engine) as s:
        since = datetime.now(UTC) - timedelta(hours=1)
        rows = s.exec(
            select(OutboxEvent).where(
                OutboxEvent.published_at == None,  # noqa: E711
                OutboxEvent.created_at >= since,  # type: ignore[operator]
            )
        ).all()
        return len(rows)


def test_events_staged_many_at_a_time_keep_their_staging_order(engine: Engine) -> None:
    """Ids are the publication order: whether the rows are staged one by one (and, on
    PostgreSQL, given ids from the sequence when a flush inserts many) or in bulk, the ids
    follow the order they were staged in."""
    from events.outbox import stage_many

    with Session(engine) as s:
        for n in range(3):
            stage(s, IncidentClosed(incident_id=n, reason="one"))
        stage_many(s, [IncidentClosed(incident_id=n, reason="bulk") for n in range(3, 23)])
        for n in range(23, 60):
            stage(s, IncidentClosed(incident_id=n, reason="one"))
        s.commit()
        rows = s.exec(select(OutboxEvent).order_by(OutboxEvent.id)).all()  # type: ignore[arg-type]
    staged = [json.loads(r.data)["incident_id"] for r in rows]
    assert staged == list(range(60))
