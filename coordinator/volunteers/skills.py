"""Skills that expire (issue 15): a skill's certificate may carry the last day it is valid.

How an expiry is given:
- in a roster file's skills cell, inline: `急救:2027-03-01、驾驶` (the skill, a colon or a
  full-width `：`, the date as YYYY-MM-DD or YYYY.MM.DD; never `/`, which separates skills):
  `first_aid` expires after 1 March 2027, `driving` never;
- through the API, the same inline form inside `skills`, or the separate field
  `skill_expiry: {"first_aid": "2027-03-01"}`; `PUT /api/volunteers/{id}/skill-expiry` sets
  or clears one later.
The `skills` list itself keeps plain names, as it always has: the dates live in
`SkillExpiry` rows beside it.

When it counts: a certificate valid through day D (local time, `Settings.timezone`) covers
a shift that *ends* by midnight after D. A shift running past that is not covered: the
matching treats the skill as absent for it (`lapsed_pairs`), at the shift's time, not today's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.volunteers.errors import InvalidVolunteer
from coordinator.volunteers.models import SkillExpiry

#: `skill:date` inside one skills item (NFKC first, so `：` and full-width digits are plain)
_INLINE_RE = re.compile(r"^(?P<skill>[^:]+?)\s*:\s*(?P<date>\S+)$")
_DATE_RE = re.compile(r"^(?P<y>\d{4})[-.](?P<m>\d{1,2})[-.](?P<d>\d{1,2})$")
#: certificates are dated within these years; anything else is a typo (`0227-03-01`)
FIRST_YEAR, LAST_YEAR = 2000, 2100


def parse_date(text: str, column: str = "skills") -> date:
    """A certificate's date as people write it (`2027-03-01`, `2027-3-1`, `2027.03.01`, also
    full-width); raises InvalidVolunteer naming `column`."""
    raw = unicodedata.normalize("NFKC", text).strip()
    found = _DATE_RE.match(raw)
    if not found:
        raise InvalidVolunteer(column, f"{raw[:20]!r} is not a date (write YYYY-MM-DD)")
    try:
        day = date(int(found["y"]), int(found["m"]), int(found["d"]))
    except ValueError:
        raise InvalidVolunteer(column, f"{raw[:20]!r} is not a real date") from None
    check_year(day, column)
    return day


def check_year(day: date, column: str = "skill_expiry") -> date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidVolunteer(column, f"{day.isoformat()} is not a plausible expiry date")
    return day


def split_inline(values: Iterable[str]) -> tuple[list[str], dict[str, date]]:
    """The skills items as given (`急救:2027-03-01`, `驾驶`) → the items without their dates
    and item → date for those that had one (items still uncleaned: the caller maps names)."""
    names: list[str] = []
    dates: dict[str, date] = {}
    for raw in values:
        text = unicodedata.normalize("NFKC", raw or "").strip()
        found = _INLINE_RE.match(text) if ":" in text else None
        if found is None:
            names.append(raw)
            continue
        name = found["skill"]
        names.append(name)
        dates[name] = parse_date(found["date"])
    return names, dates


def valid_until(expires_on: date, tz: str) -> datetime:
    """The moment a certificate valid through `expires_on` (local date) stops covering work:
    the midnight after it, in the city's time zone."""
    return datetime.combine(expires_on + timedelta(days=1), time(0, 0), tzinfo=ZoneInfo(tz))


def lapsed_pairs(
    expiry: Mapping[str, date],
    shifts: Mapping[str, tuple[datetime, datetime]],
    tz: str,
) -> frozenset[tuple[str, str]]:
    """(skill, shift key) for every shift in `shifts` (key → window) that runs past the
    validity of one of `expiry`'s skills."""
    out = set()
    for skill, expires_on in expiry.items():
        until = valid_until(expires_on, tz)
        for key, (_start, end) in shifts.items():
            if end > until:
                out.add((skill, key))
    return frozenset(out)


def is_valid_for(expires_on: date | None, end: datetime, tz: str) -> bool:
    """Whether a skill expiring `expires_on` (None: never) covers work ending at `end`."""
    return expires_on is None or end <= valid_until(expires_on, tz)


# -- the rows ----------------------------------------------------------------------------------
def expiries_of(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, dict[str, date]]:
    """Volunteer id → skill → expiry date, for the ids with any."""
    wanted = list(set(volunteer_ids))
    out: dict[int, dict[str, date]] = {}
    for start in range(0, len(wanted), 500):
        rows = session.exec(
            select(SkillExpiry).where(
                col(SkillExpiry.volunteer_id).in_(wanted[start : start + 500])
            )
        ).all()
        for row in rows:
            out.setdefault(row.volunteer_id, {})[row.skill] = row.expires_on
    return out


def expiring_before(*, session: Session, before: date) -> dict[int, dict[str, date]]:
    """Volunteer id → skill → expiry date for every certificate that ends before `before`:
    all the matching needs for shifts up to that day (the table holds only the skills that
    expire at all, so this reads few rows however large the roster)."""
    out: dict[int, dict[str, date]] = {}
    for row in session.exec(select(SkillExpiry).where(col(SkillExpiry.expires_on) < before)).all():
        out.setdefault(row.volunteer_id, {})[row.skill] = row.expires_on
    return out


def set_expiry(*, session: Session, volunteer_id: int, skill: str, expires_on: date | None) -> None:
    """Set (or with None clear) one skill's expiry, in the caller's transaction. A new date
    makes the 30-day reminder due again for it; the same date changes nothing."""
    row = session.exec(
        select(SkillExpiry).where(
            SkillExpiry.volunteer_id == volunteer_id, SkillExpiry.skill == skill
        )
    ).first()
    if expires_on is None:
        if row is not None:
            session.delete(row)
        return
    check_year(expires_on)
    if row is None:
        row = SkillExpiry(volunteer_id=volunteer_id, skill=skill, expires_on=expires_on)
    elif row.expires_on != expires_on:
        row.expires_on = expires_on
        row.updated_at = utcnow()
    session.add(row)


def set_expiries(*, session: Session, volunteer_id: int, expiry: Mapping[str, date]) -> None:
    for skill, day in expiry.items():
        set_expiry(session=session, volunteer_id=volunteer_id, skill=skill, expires_on=day)


def insert_many(*, session: Session, rows: Iterable[tuple[int, str, date]]) -> int:
    """(volunteer id, skill, date) rows for volunteers just created (an import)."""
    made = [SkillExpiry(volunteer_id=v, skill=s, expires_on=d) for v, s, d in rows]
    session.add_all(made)
    return len(made)


def drop_for(*, session: Session, volunteer_id: int, keep: Iterable[str]) -> None:
    """Forget the expiries of skills the volunteer no longer has."""
    session.execute(
        delete(SkillExpiry).where(
            col(SkillExpiry.volunteer_id) == volunteer_id, col(SkillExpiry.skill).not_in(list(keep))
        )
    )
