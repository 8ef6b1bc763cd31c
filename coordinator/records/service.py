"""Service records on the database: the lines of a volunteer's record in a period (from
dispatch's ledger, corrections applied), the people they belong to, and the certificates
issued. No HTTP; keyword-only functions taking the session.

A line is one assignment served and closed: on shift (not yet checked out, window not
over), no check-in and no-show rows count nothing and are left out. Hours are the ledger's
(`dispatch.hours`): the time actually served, from the window's start at the earliest, to
the check-out capped at the window's end plus the tolerance, a forgotten check-out closed at
the window's end, the newest correction in place of all of that."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from coordinator.common import mask_phone
from coordinator.dispatch import service as dispatch
from coordinator.geo import service as geo
from coordinator.records.errors import BadPeriod
from coordinator.records.models import Certificate
from coordinator.volunteers import service as roster

#: the years a period may name (the ledger began in 2026; the upper bound stops typos)
FIRST_YEAR, LAST_YEAR = 2000, 2100
#: the longest span an export may cover
MAX_SPAN = timedelta(days=366)
#: Crockford's base32: no I, L, O, U, so a serial read aloud or typed is not mistaken
SERIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SERIAL_GROUPS, SERIAL_GROUP = 4, 4  # 16 symbols, 80 random bits


@dataclass(frozen=True)
class Period:
    """What a record or certificate covers: lines whose counted start lies in
    [start, end), of one incident when `incident_id` is set."""

    key: str
    label: str
    start: datetime
    end: datetime
    incident_id: int | None = None


def year_period(year: int, tz: str) -> Period:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadPeriod(f"year {year} is outside {FIRST_YEAR}–{LAST_YEAR}")
    zone = ZoneInfo(tz)
    return Period(
        key=str(year),
        label=f"{year}年度",
        start=datetime(year, 1, 1, tzinfo=zone),
        end=datetime(year + 1, 1, 1, tzinfo=zone),
    )


def span_period(first: date, last: date, tz: str) -> Period:
    """The local days `first` to `last`, both included (an export's filter)."""
    if last < first:
        raise BadPeriod(f"the period ends ({last}) before it starts ({first})")
    if not (first.year >= FIRST_YEAR and last.year <= LAST_YEAR):
        raise BadPeriod(f"the period must lie within {FIRST_YEAR}–{LAST_YEAR}")
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    if end - start > MAX_SPAN:
        raise BadPeriod("a period may span at most 366 days")
    return Period(key=f"{first}..{last}", label=f"{first}至{last}", start=start, end=end)


def incident_period(*, session: Session, incident_id: int) -> Period | None:
    """Everything served on an incident's tasks; None for an unknown incident."""
    incident = dispatch.get_incident(session=session, incident_id=incident_id)
    if incident is None:
        return None
    return Period(
        key=f"incident:{incident_id}",
        label=incident.title[:120],
        start=datetime(FIRST_YEAR, 1, 1, tzinfo=ZoneInfo("UTC")),
        end=datetime(LAST_YEAR + 1, 1, 1, tzinfo=ZoneInfo("UTC")),
        incident_id=incident_id,
    )


@dataclass(frozen=True)
class Line:
    """One service, as the regulation asks it recorded: what, where, when, how long."""

    volunteer_id: int
    assignment_id: int
    #: the task's kind (de_icing, station_shift, …) and title (路面除冰): the service
    kind: str
    title: str
    district: str
    place: str
    started_at: datetime
    ended_at: datetime
    hours: float
    #: corrected, auto_closed, capped, early (see `dispatch.hours`)
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Holder:
    """Whom a record belongs to."""

    id: int
    name: str
    phone: str


def lines(
    *,
    session: Session,
    period: Period,
    tolerance: timedelta,
    now: datetime,
    volunteer_ids: Iterable[int] | None = None,
) -> dict[int, list[Line]]:
    """Volunteer id → their closed services in the period, oldest first (only volunteers
    with at least one)."""
    districts = {d.code: d.name_zh for d in geo.list_districts(session=session)}
    out: dict[int, list[Line]] = {}
    for shift in dispatch.served_shifts(
        session=session,
        start=period.start,
        end=period.end,
        tolerance=tolerance,
        now=now,
        incident_id=period.incident_id,
        volunteer_ids=volunteer_ids,
    ):
        served = shift.served
        if served.started_at is None or served.ended_at is None:
            continue
        hours = served.hours(now)
        if hours <= 0:
            continue
        out.setdefault(shift.volunteer_id, []).append(
            Line(
                volunteer_id=shift.volunteer_id,
                assignment_id=shift.assignment_id,
                kind=shift.task_kind,
                title=shift.task_title,
                district=districts.get(shift.district_code or "", ""),
                place=shift.place,
                started_at=served.started_at,
                ended_at=served.ended_at,
                hours=hours,
                flags=served.flags,
            )
        )
    for mine in out.values():
        mine.sort(key=lambda line: (line.started_at, line.assignment_id))
    return out


def candidates(*, session: Session, period: Period) -> list[int]:
    """The volunteers who may have served in the period (ledger rows on its tasks), in id
    order; `lines` says who did."""
    return dispatch.served_volunteer_ids(
        session=session, start=period.start, end=period.end, incident_id=period.incident_id
    )


def total_hours(mine: Sequence[Line]) -> float:
    return round(sum(line.hours for line in mine), 2)


def holders(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, Holder]:
    return {
        vid: Holder(vid, v.name, v.phone)
        for vid, v in roster.by_ids(session=session, volunteer_ids=volunteer_ids).items()
    }


def holder(*, session: Session, volunteer_id: int) -> Holder | None:
    v = roster.get_volunteer(session=session, volunteer_id=volunteer_id)
    return Holder(volunteer_id, v.name, v.phone) if v is not None else None


def mask_name(name: str) -> str:
    """The name as a public page may show it: the first character, then one `*` per other
    character (张三 → 张*, 欧阳娜娜 → 欧***; at most 8 stars)."""
    name = name.strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 8)


def shown_phone(phone: str, *, unmasked: bool = False) -> str:
    """A phone number as a record shows it: a mainland number in its 11 national digits
    (the national system's form, and no leading `+` for a spreadsheet to take for a
    formula), masked (139****5678) unless `unmasked`; others in E.164, masked alike."""
    shown = phone if unmasked else mask_phone(phone)
    return shown.removeprefix("+86").strip()


# -- serials and certificates ----------------------------------------------------------------
def new_serial() -> str:
    """A random serial: 80 bits from `secrets`, nothing sequential to count on."""
    symbols = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(SERIAL_GROUPS * SERIAL_GROUP))
    return "-".join(symbols[i : i + SERIAL_GROUP] for i in range(0, len(symbols), SERIAL_GROUP))


_CONFUSED = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalise_serial(raw: str) -> str | None:
    """A serial as typed or scanned (any case, spaces, Crockford's look-alikes O→0, I/L→1)
    in its stored form, or None when it cannot be one."""
    if len(raw) > 40:
        return None
    symbols = "".join(ch for ch in raw.upper() if ch not in "- ").translate(_CONFUSED)
    if len(symbols) != SERIAL_GROUPS * SERIAL_GROUP or any(
        ch not in SERIAL_ALPHABET for ch in symbols
    ):
        return None
    return "-".join(symbols[i : i + SERIAL_GROUP] for i in range(0, len(symbols), SERIAL_GROUP))


def by_serial(*, session: Session, serial: str) -> Certificate | None:
    return session.exec(select(Certificate).where(Certificate.serial == serial)).first()


def current(
    *, session: Session, period_key: str, volunteer_ids: Iterable[int]
) -> dict[int, Certificate]:
    """Volunteer id → their current (not superseded) certificate of the period."""
    wanted = sorted(set(volunteer_ids))
    out: dict[int, Certificate] = {}
    for i in range(0, len(wanted), 500):
        for c in session.exec(
            select(Certificate).where(
                Certificate.period == period_key,
                col(Certificate.volunteer_id).in_(wanted[i : i + 500]),
                col(Certificate.superseded_at).is_(None),
            )
        ).all():
            out[c.volunteer_id] = c
    return out
