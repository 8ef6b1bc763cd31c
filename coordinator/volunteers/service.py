"""The roster: phone numbers parsed once at the door, volunteers created and looked up."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from sqlmodel import Session, select

from coordinator.volunteers.models import Volunteer

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidPhone(ValueError):
    """A phone number Nuanliu cannot text; the message says why, for a row-level error."""


def normalise_phone(raw: str, *, region: str = "CN", mobile_only: bool = True) -> str:
    """E.164 for `raw` (mainland numbers may omit +86); raises InvalidPhone.

    Guiyang landlines (0851…) are valid numbers but cannot receive an SMS, so a volunteer's
    number must be a mobile one."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidPhone("phone number is empty or too long")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{text} is not a valid number")
    if mobile_only and phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise InvalidPhone(f"{text} is not a mobile number, so it cannot receive SMS")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def get_by_phone(*, session: Session, phone: str) -> Volunteer | None:
    return session.exec(select(Volunteer).where(Volunteer.phone == phone)).first()
