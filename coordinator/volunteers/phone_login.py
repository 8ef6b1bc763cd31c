"""Signing a volunteer in on the rota page by a one-time SMS code (issue 15, item 7).

A code is six digits, texted to a number on the roster (active, not opted out), good for
`rota_code_ttl`, killed after `rota_code_attempts` wrong tries; only its hash is stored.
Asking for one is limited per number and per client address an hour
(`rota_codes_per_phone`, `rota_codes_per_address`), and a number not on the roster gets the
same answer as one that is (nothing tells a stranger who volunteers), its request stored
without a code so that the limits count it. A right code opens a session: a random cookie
(its hash stored) scoped to that one volunteer, never a staff `Actor`, with a CSRF token of
its own for the page's writes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.accounts.service import record_audit
from coordinator.common import mask_phone, utcnow
from coordinator.config import Settings
from coordinator.sms import service as sms
from coordinator.volunteers.errors import InvalidPhone, VolunteersError
from coordinator.volunteers.models import (
    PhoneLoginCode,
    Volunteer,
    VolunteerSession,
    VolunteerStatus,
)
from coordinator.volunteers.service import get_by_phone, normalise_phone, token_hash

RATE_WINDOW = timedelta(hours=1)
_CODE_RE = re.compile(r"^\d{6}$")


class TooManyCodes(VolunteersError):
    """Too many sign-in codes asked for from this number or address within the hour."""

    status = 429
    code = "rota_too_many_codes"


class WrongCode(VolunteersError):
    """The code is wrong, expired, used or tried too often; the message does not say which."""

    status = 401
    code = "rota_wrong_code"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean_phone(raw: str) -> str:
    """The number as typed on a phone (full-width digits, spaces, dashes) in E.164; raises
    InvalidPhone."""
    text = unicodedata.normalize("NFKC", raw or "")
    return normalise_phone(re.sub(r"[\s\-()]", "", text))


def clean_code(raw: str) -> str:
    """Six digits, as typed (full-width, spaces); WrongCode for anything else."""
    code = re.sub(r"\s", "", unicodedata.normalize("NFKC", raw or ""))
    if not _CODE_RE.match(code):
        raise WrongCode("the code is six digits")
    return code


def _askable(volunteer: Volunteer | None) -> bool:
    return (
        volunteer is not None
        and volunteer.active
        and not volunteer.opted_out
        and volunteer.status == VolunteerStatus.ACTIVE
    )


def request_code(
    *, session: Session, phone: str, address: str, settings: Settings, now: datetime | None = None
) -> None:
    """Text a sign-in code to `phone` if it is a volunteer's (in the caller's transaction);
    the same outcome either way. Raises InvalidPhone (not a mobile number), TooManyCodes."""
    now = now or utcnow()
    number = clean_phone(phone)
    since = now - RATE_WINDOW
    by_phone = session.exec(
        select(func.count())
        .select_from(PhoneLoginCode)
        .where(PhoneLoginCode.phone == number, col(PhoneLoginCode.created_at) >= since)
    ).one()
    by_address = session.exec(
        select(func.count())
        .select_from(PhoneLoginCode)
        .where(PhoneLoginCode.address == address[:45], col(PhoneLoginCode.created_at) >= since)
    ).one()
    if by_phone >= settings.rota_codes_per_phone or by_address >= settings.rota_codes_per_address:
        raise TooManyCodes("too many codes asked for; try again in an hour")
    volunteer = get_by_phone(session=session, phone=number)
    row = PhoneLoginCode(
        phone=number, address=address[:45], expires_at=now + settings.rota_code_ttl, created_at=now
    )
    if _askable(volunteer):
        assert volunteer is not None
        code = f"{secrets.randbelow(10**6):06d}"
        row.volunteer_id = volunteer.id
        row.code_hash = _hash(f"{number}:{code}")
        sms.queue_template(
            session=session,
            phone=number,
            template="rota_code",
            lang=volunteer.language,
            volunteer_id=volunteer.id,
            code=code,
            minutes=max(1, round(settings.rota_code_ttl.total_seconds() / 60)),
        )
    session.add(row)


@dataclass(frozen=True)
class Opened:
    """A session just opened: the cookie value (shown once) and its CSRF token."""

    cookie: str
    csrf_token: str
    volunteer_id: int
    expires_at: datetime


def verify_code(
    *, session: Session, phone: str, code: str, settings: Settings, now: datetime | None = None
) -> Opened:
    """Check the newest live code of `phone`; a right one is used up and opens a session
    (in the caller's transaction: commit even on WrongCode, so the try counts). Raises
    InvalidPhone, WrongCode."""
    now = now or utcnow()
    number = clean_phone(phone)
    given = clean_code(code)
    row = session.exec(
        select(PhoneLoginCode)
        .where(
            PhoneLoginCode.phone == number,
            PhoneLoginCode.code_hash != "",
            col(PhoneLoginCode.used_at).is_(None),
            col(PhoneLoginCode.expires_at) > now,
        )
        .order_by(col(PhoneLoginCode.id).desc())
        .with_for_update()
    ).first()
    if row is None or row.attempts >= settings.rota_code_attempts:
        raise WrongCode("wrong or expired code")
    if not hmac.compare_digest(row.code_hash, _hash(f"{number}:{given}")):
        row.attempts += 1
        session.add(row)
        raise WrongCode("wrong or expired code")
    row.used_at = now
    session.add(row)
    volunteer = session.get(Volunteer, row.volunteer_id) if row.volunteer_id else None
    if not _askable(volunteer):
        raise WrongCode("wrong or expired code")
    assert volunteer is not None and volunteer.id is not None
    cookie = secrets.token_urlsafe(32)
    opened = VolunteerSession(
        token_hash=token_hash(cookie),
        volunteer_id=volunteer.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + settings.rota_session_lifetime,
    )
    session.add(opened)
    record_audit(
        session=session,
        actor=f"volunteer:{volunteer.id}",
        action="rota.signed_in",
        subject=f"volunteer:{volunteer.id}",
        detail={"phone": mask_phone(number)},
    )
    return Opened(cookie, opened.csrf_token, volunteer.id, opened.expires_at)


def end_session(*, session: Session, cookie: str) -> None:
    """Sign out: the session is gone."""
    row = session.exec(
        select(VolunteerSession).where(VolunteerSession.token_hash == token_hash(cookie or ""))
    ).first()
    if row is not None:
        session.delete(row)


__all__ = [
    "InvalidPhone",
    "Opened",
    "TooManyCodes",
    "WrongCode",
    "clean_code",
    "clean_phone",
    "end_session",
    "request_code",
    "verify_code",
]
