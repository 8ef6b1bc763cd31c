"""Small helpers every domain's models use."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import JSON, Column, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_date(timezone: str, moment: datetime | None = None) -> date:
    """The calendar date at `moment` (now by default) where the people are, `timezone` being
    `settings.timezone`: at 00:25 on 3 December in Guiyang it is still 2 December in UTC, and a
    plan made then is dated the 3rd. Never `date.today()` (the server's zone) or
    `utcnow().date()`."""
    return (moment or utcnow()).astimezone(ZoneInfo(timezone)).date()


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back aware. SQLite keeps no offset: without the
    conversion, 00:00 in Guiyang (+08:00) was stored as 00:00 and read back as 00:00 UTC,
    eight hours late; the same goes for a bound parameter compared with the column."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value  # type: ignore[no-any-return]

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value  # type: ignore[no-any-return]


def tz_column(*, nullable: bool = True, index: bool = False) -> Column:  # type: ignore[type-arg]
    """A timezone-aware timestamp column, UTC in the database (PostgreSQL timestamptz;
    SQLite text without an offset), aware UTC in Python."""
    return Column(UtcDateTime(), nullable=nullable, index=index)


def json_column() -> Column:  # type: ignore[type-arg]
    return Column(JSON, nullable=False, default=list)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without an offset; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def mask_phone(phone: object) -> str:
    """A phone number fit for a log line: the country code, the first three and the last four
    digits of the national number (`+86 138****5678`). Shorter numbers keep only their last
    two digits, and text that is not a number keeps at most its last two digits, so no log
    line can be used to text or identify a volunteer. Never raises."""
    return _masked(str(phone) if phone is not None else "")


# the board masks every number it shows a dispatcher, many times over: parsing one is ~15 µs
@lru_cache(maxsize=4096)
def _masked(text: str) -> str:
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in text if ch.isdigit())
        return "*" * max(len(digits) - 2, 1) + digits[-2:] if digits else "***"
    national = str(number.national_number)
    if len(national) >= 10:  # at least three digits stay hidden
        return f"+{number.country_code} {national[:3]}****{national[-4:]}"
    return f"+{number.country_code} " + "*" * max(len(national) - 2, 1) + national[-2:]


#: a phone number inside free text: E.164 (`+8613812345678`) or a bare mainland mobile
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+\d{7,15}|1[3-9]\d{9})(?!\d)")


def mask_phones_in(text: str) -> str:
    """`text` with every phone number in it masked by :func:`mask_phone`."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


class MaskPhones(logging.Filter):
    """A handler filter that masks phone numbers in a record's message and traceback: the
    safety net for text we do not write ourselves. PostgreSQL's own error text repeats a row's
    values (`DETAIL: Key (phone)=(+86…) already exists`, `Failing row contains (…)`), which
    the engines' `hide_parameters` cannot hide. Our own log calls mask with `mask_phone`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones_in(record.exc_text)
        return True
