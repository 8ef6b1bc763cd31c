"""Joining by SMS: a sign-up lands in the approval queue (a pending volunteer, never asked
for work), and a dispatcher approves or declines it; the person is told by SMS either way.

The answer to the sign-up text itself is the SMS reply handler's (`dispatch.flows.replies`,
which limits automatic answers per number): :func:`sign_up` only says what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import mask_phone, utcnow
from coordinator.sms import service as sms
from coordinator.volunteers import service
from coordinator.volunteers.errors import InvalidVolunteer, NotPending, VolunteerNotFound
from coordinator.volunteers.models import Volunteer, VolunteerCreate, VolunteerStatus

log = logging.getLogger(__name__)


class SignupResult(StrEnum):
    """What a sign-up text did."""

    RECEIVED = "received"
    #: the same number is waiting for approval already
    PENDING = "pending"
    #: the number is a volunteer already
    ON_ROSTER = "on_roster"
    #: the number's earlier sign-up was declined; a dispatcher may still add them by hand
    REFUSED_BEFORE = "refused_before"
    BAD_DISTRICT = "bad_district"
    #: anything else that cannot be stored (a name too long, too many skills, a landline)
    INVALID = "invalid"


@dataclass(frozen=True)
class SignupOutcome:
    result: SignupResult
    volunteer: Volunteer | None = None
    message: str = ""
    #: the field at fault for BAD_DISTRICT and INVALID
    column: str | None = None


def known(volunteer: Volunteer) -> SignupOutcome:
    """What a sign-up from a number on the roster (in any status) amounts to."""
    if volunteer.status == VolunteerStatus.PENDING:
        return SignupOutcome(SignupResult.PENDING, volunteer)
    if volunteer.status == VolunteerStatus.DECLINED:
        return SignupOutcome(SignupResult.REFUSED_BEFORE, volunteer)
    return SignupOutcome(SignupResult.ON_ROSTER, volunteer)


def sign_up(
    *,
    session: Session,
    phone: str,
    name: str,
    district: str,
    skills: list[str],
    language: str = "zh",
    via: str = "sms",
) -> SignupOutcome:
    """Put a person who texted `报名` (or confirmed their number on the sign-up page, `via`
    "web") in the approval queue, in the caller's transaction. A number already known
    (pending, on the roster, declined) changes nothing; two sign-ups from one number at once
    store one (the unique phone index, inside a savepoint)."""
    existing = service.get_by_phone(session=session, phone=phone)
    if existing is not None:
        return known(existing)
    data = VolunteerCreate(
        name=name, phone=phone, district=district, skills=skills, language=language
    )
    try:
        values = service.volunteer_values(data, service.Resolver(session))
    except InvalidVolunteer as exc:
        result = SignupResult.BAD_DISTRICT if exc.column == "district" else SignupResult.INVALID
        return SignupOutcome(result, None, exc.message, exc.column)
    volunteer = Volunteer(**values, active=False, status=VolunteerStatus.PENDING, source=via)
    try:
        with session.begin_nested():
            session.add(volunteer)
            session.flush()
    except IntegrityError:
        # the same number signed up in another transaction a moment ago
        raced = service.get_by_phone(session=session, phone=values["phone"])
        if raced is None:
            raise
        return known(raced)
    record_audit(
        session=session,
        actor=f"volunteer:{volunteer.id}",
        action="volunteer.signed_up",
        subject=f"volunteer:{volunteer.id}",
        detail={"district": volunteer.district_code, "skills": volunteer.skills, "via": via},
    )
    log.info("sign-up from %s waits for approval", mask_phone(volunteer.phone))
    return SignupOutcome(SignupResult.RECEIVED, volunteer)


def _decide(
    session: Session, volunteer_id: int, actor: Actor, to: VolunteerStatus, reason: str
) -> Volunteer:
    volunteer = service.lock_volunteer(session=session, volunteer_id=volunteer_id)
    if volunteer is None:
        raise VolunteerNotFound(f"no volunteer {volunteer_id}")
    if volunteer.status != VolunteerStatus.PENDING:
        raise NotPending(f"volunteer {volunteer_id} is {volunteer.status}, not waiting")
    volunteer.status = to
    volunteer.active = to == VolunteerStatus.ACTIVE
    session.add(volunteer)
    record_audit(
        session=session,
        actor=actor,
        action="volunteer.approved" if to == VolunteerStatus.ACTIVE else "volunteer.declined",
        subject=f"volunteer:{volunteer.id}",
        detail={"reason": reason, "waited_s": _waited(volunteer)},
    )
    return volunteer


def _waited(volunteer: Volunteer) -> int:
    created = volunteer.created_at
    if created.tzinfo is None:
        return 0
    return max(0, int((utcnow() - created).total_seconds()))


def approve(*, session: Session, volunteer_id: int, actor: Actor, reason: str = "") -> Volunteer:
    """A dispatcher lets a sign-up in: active from now, and told so by SMS. Raises
    VolunteerNotFound (404), NotPending (409: decided already, by someone else too)."""
    volunteer = _decide(session, volunteer_id, actor, VolunteerStatus.ACTIVE, reason)
    sms.queue_template(
        session=session,
        phone=volunteer.phone,
        template="signup_approved",
        lang=volunteer.language,
        volunteer_id=volunteer.id,
        person=volunteer.name,
    )
    return volunteer


def decline(*, session: Session, volunteer_id: int, actor: Actor, reason: str = "") -> Volunteer:
    """A dispatcher turns a sign-up down; the person is told (the reason stays in the audit
    log). Their number stays known, so texting `报名` again is answered, not queued."""
    volunteer = _decide(session, volunteer_id, actor, VolunteerStatus.DECLINED, reason)
    sms.queue_template(
        session=session,
        phone=volunteer.phone,
        template="signup_declined",
        lang=volunteer.language,
        volunteer_id=volunteer.id,
    )
    return volunteer
