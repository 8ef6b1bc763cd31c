"""No whole phone number in a log line: the console gateway masks it, database errors carry no
bound parameters, the logging filter masks what the database's own error text repeats, and
a shipment text to a bad number is logged masked."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from coordinator.common import MaskPhones, mask_phone, mask_phones_in
from coordinator.volunteers.models import Volunteer

PHONE = "+8613812345678"


@pytest.fixture
def masked_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose one handler has the filter `nuanliu` commands install."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskPhones())
    logger = logging.getLogger("tests.phone_logs")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


def _volunteer(phone: str = PHONE) -> Volunteer:
    return Volunteer(name="王芳", phone=phone, district_code=None, lat=26.6, lon=106.7)


def test_an_engine_error_carries_no_parameter_values(engine: Engine) -> None:
    with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
        conn.execute(
            text("SELECT no_such_column FROM volunteers WHERE phone = :phone AND name = :name"),
            {"phone": PHONE, "name": "王芳"},
        )
    message = str(raised.value)
    assert PHONE not in message and "王芳" not in message
    assert "parameters hidden" in message


def test_a_duplicate_number_logged_with_its_traceback_is_masked(
    engine: Engine, masked_log: tuple[logging.Logger, io.StringIO]
) -> None:
    """On PostgreSQL the error's DETAIL line names the duplicate key: the filter masks it."""
    logger, out = masked_log
    with Session(engine) as s:
        s.add(_volunteer())
        s.commit()
    with Session(engine) as s:
        s.add(_volunteer())
        try:
            s.commit()
        except IntegrityError as exc:
            logger.exception("storing failed: %s", exc)
        else:  # pragma: no cover
            pytest.fail("the duplicate number was stored")
    logged = out.getvalue()
    assert "IntegrityError" in logged and "Traceback" in logged
    assert PHONE not in logged and PHONE[3:] not in logged


def test_the_filter_masks_numbers_and_leaves_other_numbers_alone(
    masked_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = masked_log
    logger.warning(
        "to %s and %s, event 1234567, at 2025-01-05T10:00:00+00:00, id a13812345678b",
        PHONE,
        "13987654321",
    )
    logged = out.getvalue()
    assert "+86 138****5678" in logged and "+86 139****4321" in logged
    assert PHONE not in logged and "13987654321" not in logged
    assert "event 1234567" in logged and "+00:00" in logged and "a13812345678b" in logged
    assert mask_phones_in("Key (phone)=(+8613812345678) already exists.") == (
        "Key (phone)=(+86 138****5678) already exists."
    )


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (PHONE, "+86 138****5678"),
        ("13812345678", "+86 138****5678"),
        ("+1 415 555 0100", "+1 415****0100"),
        ("12345", "+86 ***45"),
        ("", "***"),
        (None, "***"),
        ("not a number", "***"),
    ],
)
def test_mask_phone(raw: Any, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_a_shipment_text_to_a_bad_number_is_logged_masked(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    from coordinator.logistics.flows.shipments import _dispatch_sms

    caplog.set_level(logging.DEBUG)
    bad = "+86138123456789999"  # too long: not a number the gateway could text
    place: Any = SimpleNamespace(manager_phones=bad, name_zh="云岩站")
    shipment: Any = SimpleNamespace(short_code="S12")
    item = SimpleNamespace(short_name="水")
    _dispatch_sms(session, shipment, place, [(item, 3)])  # type: ignore[list-item]
    [line] = [r.getMessage() for r in caplog.records if "cannot text" in r.getMessage()]
    assert "S12" in line and bad not in line and bad[3:] not in line
