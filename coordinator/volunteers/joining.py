"""Joining on the public sign-up page (`/join`, issue 15): the number is confirmed by a
one-time SMS code, then the person lands in the approval queue through the same
:func:`coordinator.volunteers.flows.sign_up` as a `报名` text (`via` "web").

Two steps, each in the caller's transaction:

- :func:`request_code` checks the form, applies the rate limits (one code per number per
  `join_code_interval`, `join_codes_per_phone_day` per number in 24 hours,
  `join_codes_per_address_hour` per client address) and queues the code by SMS. The limits
  count the stored `join_codes` rows, so they hold across API processes; a refused request
  stores nothing.
- :func:`confirm` checks the code against the number's newest one (expiry, wrong tries) and
  signs the person up. A wrong try is written before the refusal is raised: the caller
  commits after a :class:`JoinRefused` so the count sticks.

A number already known (pending, a volunteer, declined before) still gets a code: the page
never says whether a number is on the roster to someone who has not shown they hold it, and
after the code it says only "known already".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from coordinator.common import aware, mask_phone, utcnow
from coordinator.config import Settings
from coordinator.geo.service import District, list_districts
from coordinator.sms import service as sms
from coordinator.volunteers import service
from coordinator.volunteers.errors import (
    AlreadyJoined,
    InvalidPhone,
    InvalidVolunteer,
    JoinCodeExpired,
    JoinCodeWrong,
    JoinInvalid,
    JoinRateLimited,
    JoinRefused,
)
from coordinator.volunteers.flows import SignupResult, sign_up
from coordinator.volunteers.models import JoinCode, Volunteer

log = logging.getLogger(__name__)

__all__ = ["SKILLS", "Applicant", "JoinRefused", "Limits", "check_form", "confirm", "request_code"]

#: the skills the page offers (playbook names, as `service.clean_skills` makes them), with
#: their words; anything else in a form is refused
SKILLS: dict[str, tuple[str, str]] = {
    "first_aid": ("急救", "First aid"),
    "driving": ("驾驶", "Driving"),
    "de_icing": ("除冰", "De-icing"),
    "elderly_care": ("助老", "Elderly care"),
    "traffic": ("交通疏导", "Traffic"),
    "logistics": ("物流", "Logistics"),
    "legal_aid": ("法律援助", "Legal aid"),
}
CODE_DIGITS = 6
#: the window of `join_codes_per_phone_day` and of `join_codes_per_address_hour`
DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
#: how long a code's row is kept: longer than any window that counts it
KEEP = timedelta(days=2)
#: what goes between the digits of a number as people type it
_PHONE_NOISE = re.compile(r"[\s\-–—()（）.·]")


@dataclass(frozen=True)
class Limits:
    """The code's lifetime and tries, and the rate limits (from `Settings`)."""

    lifetime: timedelta = timedelta(minutes=10)
    attempts: int = 5
    interval: timedelta = timedelta(seconds=60)
    per_phone_day: int = 5
    per_address_hour: int = 10

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            lifetime=settings.join_code_lifetime,
            attempts=settings.join_code_attempts,
            interval=settings.join_code_interval,
            per_phone_day=settings.join_codes_per_phone_day,
            per_address_hour=settings.join_codes_per_address_hour,
        )


@dataclass(frozen=True)
class Applicant:
    """A sign-up form that passed the checks: the phone in E.164, the district's code."""

    name: str
    phone: str
    district: District
    skills: tuple[str, ...]
    language: str


def clean_phone(raw: str) -> str:
    """E.164 for a mobile number as people type it: full-width digits, spaces, dashes and
    brackets allowed (`１３８ ００１３ ８０００`, `(+86) 138-0013-8000`). Raises JoinInvalid."""
    typed = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", raw or ""))
    try:
        # digits only: phonenumbers would read `138…x12` as a number with an extension
        if not re.fullmatch(r"\+?\d{5,20}", typed):
            raise InvalidPhone("not digits")
        return service.normalise_phone(typed)
    except InvalidPhone:
        raise JoinInvalid(
            "Enter a mainland mobile number (11 digits)",
            zh="请填写正确的手机号码（11位）",
            field="phone",
        ) from None


def check_form(
    *,
    session: Session,
    name: str,
    phone: str,
    district: str,
    skills: list[str],
    language: str = "zh",
) -> Applicant:
    """The form's fields checked, before any code is sent; raises JoinInvalid naming the field
    at fault. `district` is a district's code (the page's choices) or its name."""
    try:
        clean = service.clean_name(unicodedata.normalize("NFKC", name or ""))
    except InvalidVolunteer as exc:
        if not (name or "").strip():
            raise JoinInvalid("Enter your name", zh="请填写姓名", field="name") from None
        raise JoinInvalid(
            f"The name {exc.message}", zh="姓名过长或含有无效字符", field="name"
        ) from None
    e164 = clean_phone(phone)
    key = unicodedata.normalize("NFKC", district or "").strip()
    found = {d.code: d for d in list_districts(session=session)}
    chosen = found.get(key) or next(
        (d for d in found.values() if key and key in (d.name_zh, d.name_en)), None
    )
    if chosen is None:
        raise JoinInvalid("Choose your district", zh="请选择所在区县", field="district")
    wanted = [s for s in dict.fromkeys(skills) if s.strip()]
    if any(s not in SKILLS for s in wanted):
        raise JoinInvalid("Choose skills from the list", zh="请从列表中选择技能", field="skills")
    return Applicant(
        name=clean,
        phone=e164,
        district=chosen,
        skills=tuple(wanted),
        language="en" if language == "en" else "zh",
    )


def _digest(salt: str, phone: str, code: str) -> str:
    # A code lives minutes and allows a few tries, so a keyed hash is enough to keep a reader
    # of this table from using a live one; a slow hash would only cost CPU under a flood
    return hmac.new(salt.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _serialise(session: Session, key: str) -> None:
    """Hold `key` until the transaction ends, so two requests for one number or address
    cannot both pass the count below. PostgreSQL: an advisory lock; SQLite's transactions
    take the write lock at BEGIN (`db.make_engine`) and are serial already."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": number})


def _count(session: Session, *conditions: object) -> int:
    query = select(func.count()).select_from(JoinCode)
    for condition in conditions:
        query = query.where(condition)  # type: ignore[arg-type]
    return int(session.exec(query).one())


def _waiting(session: Session, phone: str, since: datetime) -> datetime | None:
    """When the number's newest code since `since` was sent, if any."""
    return aware(
        session.exec(
            select(func.max(JoinCode.created_at)).where(
                JoinCode.phone == phone, col(JoinCode.created_at) >= since
            )
        ).one()
    )


def request_code(
    *,
    session: Session,
    applicant: Applicant,
    address: str,
    limits: Limits,
    now: datetime | None = None,
) -> JoinCode:
    """Queue a new code to the applicant's number (the SMS goes after the caller commits);
    raises JoinRateLimited (nothing stored) when this number or address asked too often."""
    now = now or utcnow()
    address = address[:64]
    phone = applicant.phone
    _serialise(session, f"join:address:{address}")
    _serialise(session, f"join:phone:{phone}")
    from_address = _count(
        session, JoinCode.address == address, col(JoinCode.created_at) >= now - HOUR
    )
    if from_address >= limits.per_address_hour:
        log.warning("sign-up codes refused to address %s: %d in an hour", address, from_address)
        raise JoinRateLimited(
            "Too many codes asked for from this network; try again in an hour",
            zh="此网络请求验证码过于频繁，请一小时后再试",
        )
    last = _waiting(session, phone, now - limits.interval)
    if last is not None:
        wait = max(1, int((last + limits.interval - now).total_seconds()) + 1)
        raise JoinRateLimited(
            f"A code was sent a moment ago; ask again in {wait} s",
            zh=f"验证码刚刚已发送，请{wait}秒后再试",
            field="phone",
        )
    today = _count(session, JoinCode.phone == phone, col(JoinCode.created_at) >= now - DAY)
    if today >= limits.per_phone_day:
        log.warning("sign-up codes refused to %s: %d in a day", mask_phone(phone), today)
        raise JoinRateLimited(
            "This number has had too many codes today; try again tomorrow",
            zh="这个号码今天获取验证码的次数已达上限，请明天再试",
            field="phone",
        )
    # rows past every window are of no more use (a code lives minutes, the limits look back
    # a day): one indexed delete here keeps the table small without a job of its own
    session.execute(delete(JoinCode).where(col(JoinCode.created_at) < now - KEEP))
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    row = JoinCode(
        phone=phone,
        address=address,
        salt=salt,
        code_hash=_digest(salt, phone, code),
        created_at=now,
        expires_at=now + limits.lifetime,
    )
    session.add(row)
    sms.queue_template(
        session=session,
        phone=phone,
        template="join_code",
        lang=applicant.language,
        code=code,
        minutes=str(max(1, int(limits.lifetime.total_seconds() // 60))),
    )
    session.flush()
    log.info("sign-up code queued to %s", mask_phone(phone))
    return row


def clean_code(raw: str) -> str:
    """The six digits of a code as typed (full-width digits and spaces allowed); raises
    JoinCodeWrong without counting a try for anything else."""
    typed = re.sub(r"\s", "", unicodedata.normalize("NFKC", raw or ""))
    if not re.fullmatch(rf"\d{{{CODE_DIGITS}}}", typed):
        raise JoinCodeWrong(
            f"Enter the {CODE_DIGITS}-digit code from the text",
            zh=f"请输入短信中的{CODE_DIGITS}位验证码",
            field="code",
        )
    return typed


def confirm(
    *,
    session: Session,
    applicant: Applicant,
    code: str,
    limits: Limits,
    now: datetime | None = None,
) -> Volunteer:
    """The applicant, waiting for approval, once `code` is the number's newest one. Raises
    JoinCodeWrong (a try counted, written in the session), JoinCodeExpired (too old, or too
    many wrong tries), AlreadyJoined (the number is known; the code is used up) or
    JoinInvalid. The caller commits after a refusal too, so a wrong try is kept."""
    now = now or utcnow()
    typed = clean_code(code)
    row = session.exec(
        select(JoinCode)
        .where(JoinCode.phone == applicant.phone, col(JoinCode.used_at).is_(None))
        .order_by(col(JoinCode.id).desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise JoinCodeWrong(
            "Ask for a code for this number first", zh="请先获取这个号码的验证码", field="code"
        )
    if row.attempts >= limits.attempts:
        raise JoinCodeExpired(
            "Too many wrong codes; ask for a new one",
            zh="验证码错误次数过多，请重新获取",
            field="code",
        )
    expires = aware(row.expires_at)
    if expires is None or expires <= now:
        raise JoinCodeExpired(
            "The code has expired; ask for a new one", zh="验证码已过期，请重新获取", field="code"
        )
    if not hmac.compare_digest(row.code_hash, _digest(row.salt, applicant.phone, typed)):
        row.attempts += 1
        session.add(row)
        session.flush()
        left = limits.attempts - row.attempts
        if left <= 0:
            raise JoinCodeExpired(
                "Too many wrong codes; ask for a new one",
                zh="验证码错误次数过多，请重新获取",
                field="code",
            )
        raise JoinCodeWrong(
            f"Wrong code; {left} tries left", zh=f"验证码不正确，还可以再试{left}次", field="code"
        )
    row.used_at = now
    session.add(row)
    outcome = sign_up(
        session=session,
        phone=applicant.phone,
        name=applicant.name,
        district=applicant.district.code,
        skills=list(applicant.skills),
        language=applicant.language,
        via="web",
    )
    if outcome.result == SignupResult.RECEIVED:
        assert outcome.volunteer is not None
        return outcome.volunteer
    if outcome.result in (
        SignupResult.PENDING,
        SignupResult.ON_ROSTER,
        SignupResult.REFUSED_BEFORE,
    ):
        # the same words whichever it is: the page is no way to learn a number's standing
        raise AlreadyJoined(
            "This number has signed up already; no need to sign up again. Questions: ask the union",
            zh="这个号码已经报过名，无需重复报名。如有疑问请联系工会。",
        )
    raise JoinInvalid(outcome.message or "cannot sign up", zh="报名信息有误", field=outcome.column)
