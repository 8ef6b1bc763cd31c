"""The roster: phone numbers parsed once at the door, volunteers created and looked up."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from sqlalchemy import String, and_, cast, func, or_
from sqlmodel import Session, col, select

from coordinator.common import aware, mask_phone, utcnow
from coordinator.geo.service import District, resolve
from coordinator.volunteers import skills as expiring
from coordinator.volunteers.errors import (
    InvalidFilter,
    InvalidPhone,
    InvalidVolunteer,
    PhoneOnRoster,
)
from coordinator.volunteers.models import Team, VolunteerCreate, VolunteerSession, VolunteerUpdate

# The row type this service hands to other domains: they name it from here, never from models
from coordinator.volunteers.models import Volunteer as Volunteer

# The vocabulary of a volunteer's `status`, for the domains that read it (the reply handler)
from coordinator.volunteers.models import VolunteerStatus as VolunteerStatus

# When an expiring skill stops counting, for the matching (pure: skill dates and windows)
from coordinator.volunteers.skills import is_valid_for as is_valid_for
from coordinator.volunteers.skills import lapsed_pairs as lapsed_pairs

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}

#: Skill names people write in a spreadsheet → the names playbooks use
SKILL_ALIASES = {
    "除冰": "de_icing",
    "除冰雪": "de_icing",
    "扫雪": "de_icing",
    "deicing": "de_icing",
    "de-icing": "de_icing",
    "助老": "elderly_care",
    "敬老": "elderly_care",
    "养老": "elderly_care",
    "老人照护": "elderly_care",
    "急救": "first_aid",
    "first-aid": "first_aid",
    "驾驶": "driving",
    "司机": "driving",
    "交通": "traffic",
    "交通疏导": "traffic",
    "法律": "legal_aid",
    "法律援助": "legal_aid",
    "物流": "logistics",
    "后勤": "logistics",
}
#: the playbooks' skill names in words (Chinese, English), for pages and exports
SKILL_WORDS = {
    "de_icing": ("除冰", "de-icing"),
    "elderly_care": ("助老", "elderly care"),
    "first_aid": ("急救", "first aid"),
    "driving": ("驾驶", "driving"),
    "traffic": ("交通疏导", "traffic"),
    "legal_aid": ("法律援助", "legal aid"),
    "logistics": ("物流后勤", "logistics"),
}
LANGUAGE_ALIASES = {
    "zh": "zh",
    "zh-cn": "zh",
    "zh_cn": "zh",
    "cn": "zh",
    "chinese": "zh",
    "中文": "zh",
    "汉语": "zh",
    "普通话": "zh",
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
}
MAX_SKILLS = 20


def normalise_phone(raw: str, *, region: str = "CN", mobile_only: bool = True) -> str:
    """E.164 for `raw` (mainland numbers may omit +86); raises InvalidPhone.

    Guiyang landlines (0851…) are valid numbers but cannot receive an SMS, so a volunteer's
    number must be a mobile one."""
    return _normalised(raw, region, mobile_only)


# Parsing a number costs ~15 µs and the same few thousand volunteers text us again and again in
# a storm; only valid numbers are kept (lru_cache does not keep a raised InvalidPhone).
@lru_cache(maxsize=20_000)
def _normalised(raw: str, region: str, mobile_only: bool) -> str:
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidPhone("phone number is empty or too long", zh="手机号为空或太长")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}", zh="不是电话号码") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"{mask_phone(text)} is not a valid number", zh=f"{mask_phone(text)} 不是有效的号码"
        )
    if mobile_only and phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise InvalidPhone(
            f"{mask_phone(text)} is not a mobile number, so it cannot receive SMS",
            zh=f"{mask_phone(text)} 不是手机号，收不到短信",
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def get_by_phone(*, session: Session, phone: str) -> Volunteer | None:
    return session.exec(select(Volunteer).where(Volunteer.phone == phone)).first()


def by_phones(*, session: Session, phones: Iterable[str]) -> dict[str, Volunteer]:
    """E.164 phone → Volunteer row (the session's own object), for the phones on the roster."""
    wanted = list(set(phones))
    found: dict[str, Volunteer] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for v in session.exec(select(Volunteer).where(col(Volunteer.phone).in_(chunk))).all():
            found[v.phone] = v
    return found


def by_ids(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, Volunteer]:
    """Volunteer id → Volunteer row, for the ids on the roster."""
    wanted = list(set(volunteer_ids))
    found: dict[int, Volunteer] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for v in session.exec(select(Volunteer).where(col(Volunteer.id).in_(chunk))).all():
            if v.id is not None:
                found[v.id] = v
    return found


def names_by_id(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, str]:
    """Volunteer id → name, for the ids on the roster."""
    wanted = list(set(volunteer_ids))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for vid, name in session.exec(
            select(Volunteer.id, Volunteer.name).where(col(Volunteer.id).in_(chunk))
        ).all():
            if vid is not None:
                found[vid] = name
    return found


def opt_out(*, session: Session, volunteer: Volunteer) -> None:
    """The volunteer asked for no more task messages (their STOP); the caller's transaction."""
    volunteer.opted_out = True
    session.add(volunteer)


def volunteer_ids_by_phone(*, session: Session, phones: set[str]) -> dict[str, int]:
    """E.164 phone → volunteer id, for the phones on the roster."""
    if not phones:
        return {}
    rows = session.exec(
        select(Volunteer.phone, Volunteer.id).where(col(Volunteer.phone).in_(phones))
    ).all()
    return {phone: vid for phone, vid in rows if vid is not None}


# -- field cleaning (shared by the API and the importer) ---------------------------------------
def _text(value: str | None, column: str, *, max_len: int) -> str:
    text = unicodedata.normalize("NFC", (value or "")).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise InvalidVolunteer(column, "contains control characters", zh="含有控制字符")
    if len(text) > max_len:
        raise InvalidVolunteer(
            column, f"longer than {max_len} characters", zh=f"超过 {max_len} 个字符"
        )
    return text


def clean_name(value: str | None) -> str:
    """The name as given (formulas such as `=HYPERLINK(...)` stay plain text)."""
    name = _text(value, "name", max_len=64)
    if not name:
        raise InvalidVolunteer("name", "is required", zh="姓名不能为空")
    return name


def clean_skills(values: Iterable[str]) -> list[str]:
    """Skills lower-cased, with common Chinese and English spellings mapped to playbook names.
    An inline expiry (`急救:2027-03-01`) is left out of the name (see `skills`; a bad date is
    an InvalidVolunteer): the list keeps plain names."""
    names, _dates = expiring.split_inline(values)
    out: list[str] = []
    for raw in names:
        skill = _text(raw, "skills", max_len=32)
        if not skill:
            continue
        key = unicodedata.normalize("NFKC", skill).lower()
        skill = SKILL_ALIASES.get(key, re.sub(r"\s+", "_", key))
        if skill not in out:
            out.append(skill)
    if len(out) > MAX_SKILLS:
        raise InvalidVolunteer(
            "skills", f"more than {MAX_SKILLS} skills", zh=f"技能超过 {MAX_SKILLS} 项"
        )
    return out


def split_skills(text: str | None) -> list[str]:
    """`de_icing, first_aid` or `除冰、急救` or `除冰；急救` → a list."""
    return [part for part in re.split(r"[,，、;；/|]", text or "") if part.strip()]


def clean_language(value: str | None) -> str:
    key = unicodedata.normalize("NFKC", (value or "").strip()).lower()
    if not key:
        return "zh"
    if key not in LANGUAGE_ALIASES:
        raise InvalidVolunteer(
            "language",
            f"{value!r} is not a language we text in (zh, en)",
            zh=f"“{value}”不是短信可用的语言（中文 zh、英文 en）",
        )
    return LANGUAGE_ALIASES[key]


def clean_coordinates(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise InvalidVolunteer(
            "lat" if lat is None else "lon",
            "give both lat and lon, or neither",
            zh="纬度和经度要么都填，要么都不填",
        )
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidVolunteer(
            "lat", "latitude must be between -90 and 90", zh="纬度应在 -90 到 90 之间"
        )
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidVolunteer(
            "lon", "longitude must be between -180 and 180", zh="经度应在 -180 到 180 之间"
        )
    return lat, lon


def near_centre(district: District, phone: str) -> tuple[float, float]:
    """A home near the district centre when none is given: spread by a hash of the phone, so
    volunteers without coordinates do not all sit on one point (ties in the matching)."""
    digest = hashlib.sha256(phone.encode()).digest()
    r = district.radius_km * 0.3 * math.sqrt(digest[0] / 255)
    theta = digest[1] / 255 * 2 * math.pi
    lat = district.lat + r * math.cos(theta) / 111.0
    lon = district.lon + r * math.sin(theta) / (111.0 * math.cos(math.radians(district.lat)))
    return round(lat, 6), round(lon, 6)


@dataclass
class Resolver:
    """Looks districts and teams up once per import, not once per row."""

    session: Session

    def __post_init__(self) -> None:
        self._districts: dict[str, District | None] = {}
        self._teams: dict[str, Team] = {}

    def district(self, name_or_code: str) -> District:
        key = name_or_code.strip()
        if key not in self._districts:
            self._districts[key] = resolve(session=self.session, name_or_code=key)
        district = self._districts[key]
        if district is None:
            raise InvalidVolunteer(
                "district",
                f"unknown district {name_or_code!r}",
                zh=f"没有“{name_or_code}”这个区县",
            )
        return district

    def team(self, name: str, district: District | None) -> Team:
        """The team called `name`, created (in the volunteer's district) if new."""
        name = _text(name, "team", max_len=64)
        if name not in self._teams:
            team = self.session.exec(select(Team).where(Team.name == name)).first()
            if team is None:
                team = Team(name=name, district_code=district.code if district else None)
                self.session.add(team)
                self.session.flush()
            self._teams[name] = team
        return self._teams[name]


def build_volunteer(data: VolunteerCreate, resolver: Resolver) -> Volunteer:
    """A new, unsaved Volunteer from `data`; raises InvalidVolunteer naming the column."""
    return Volunteer(**volunteer_values(data, resolver))


def skill_expiry_of(data: VolunteerCreate) -> dict[str, date]:
    """Skill (playbook name) → the last day its certificate is valid, from the inline form
    in `skills` (`急救:2027-03-01`) and the `skill_expiry` field; raises InvalidVolunteer
    for a bad date or a date for a skill the volunteer does not have."""
    names, inline = expiring.split_inline(data.skills)
    held = set(clean_skills(names))
    out: dict[str, date] = {}
    for raw, day in inline.items():
        out[clean_skills([raw])[0]] = day
    for raw, day in data.skill_expiry.items():
        cleaned = clean_skills([raw])
        if not cleaned or cleaned[0] not in held:
            raise InvalidVolunteer("skill_expiry", f"{raw[:32]!r} is not one of the skills")
        out[cleaned[0]] = expiring.check_year(day)
    return out


def volunteer_values(data: VolunteerCreate, resolver: Resolver) -> dict[str, Any]:
    """The checked columns of a new volunteer from `data` (the rest have column defaults);
    raises InvalidVolunteer naming the column. The importer inserts these as they are:
    building 20,000 Volunteer objects was half of a large import's time."""
    name = clean_name(data.name)
    try:
        phone = normalise_phone(data.phone)
    except InvalidPhone as exc:
        raise InvalidVolunteer("phone", str(exc), zh=exc.zh) from None
    district = resolver.district(data.district) if data.district and data.district.strip() else None
    where = clean_coordinates(data.lat, data.lon)
    if where is None:
        if district is None:
            raise InvalidVolunteer(
                "district", "give a district or lat/lon", zh="请填写区县或经纬度"
            )
        where = near_centre(district, phone)
    team = resolver.team(data.team, district) if data.team and data.team.strip() else None
    return {
        "name": name,
        "phone": phone,
        "district_code": district.code if district else None,
        "lat": where[0],
        "lon": where[1],
        "skills": clean_skills(data.skills),
        "language": clean_language(data.language),
        "team_id": team.id if team else None,
        "created_at": utcnow(),
    }


def district_filter(*, session: Session, name_or_code: str) -> str:
    """The code of the district a roster query names; InvalidFilter for one we do not know."""
    found = resolve(session=session, name_or_code=name_or_code)
    if found is None:
        raise InvalidFilter(f"unknown district {name_or_code!r}")
    return found.code


def skill_filter(skill: str) -> str | None:
    """The playbook name of the skill a roster query names (None for a blank one);
    InvalidFilter for one that is not a skill."""
    if not skill.strip():
        return None
    try:
        return clean_skills([skill])[0]
    except InvalidVolunteer as exc:
        raise InvalidFilter(exc.message) from None


def team_id_named(*, session: Session, name: str) -> int | None:
    """The id of the team called `name`, or None."""
    return session.exec(select(Team.id).where(Team.name == name)).first()


def get_volunteer(*, session: Session, volunteer_id: int) -> Volunteer | None:
    """The volunteer with that id, or None."""
    return session.get(Volunteer, volunteer_id)


def pending(*, session: Session, limit: int = 200) -> tuple[list[Volunteer], int]:
    """Sign-ups waiting for a dispatcher, oldest first, and how many there are."""
    waiting = Volunteer.status == VolunteerStatus.PENDING
    rows = session.exec(
        select(Volunteer).where(waiting).order_by(col(Volunteer.id)).limit(limit)
    ).all()
    total = session.exec(select(func.count()).select_from(Volunteer).where(waiting)).one()
    return list(rows), int(total)


def lock_volunteer(*, session: Session, volunteer_id: int) -> Volunteer | None:
    """The volunteer, its row locked for the caller's transaction (PostgreSQL; SQLite
    serialises writers anyway), read afresh."""
    return session.exec(
        select(Volunteer)
        .where(Volunteer.id == volunteer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def create_volunteer(*, session: Session, data: VolunteerCreate) -> Volunteer:
    """Add a volunteer in the caller's transaction; raises InvalidVolunteer (a number already
    on the roster too)."""
    volunteer = build_volunteer(data, Resolver(session))
    expiry = skill_expiry_of(data)
    existing = get_by_phone(session=session, phone=volunteer.phone)
    if existing is not None:
        raise PhoneOnRoster(existing.id)
    session.add(volunteer)
    session.flush()
    assert volunteer.id is not None
    expiring.set_expiries(session=session, volunteer_id=volunteer.id, expiry=expiry)
    return volunteer


def set_skill_expiry(
    *, session: Session, volunteer: Volunteer, skill: str, expires_on: date | None
) -> dict[str, date]:
    """Set or clear the expiry of one of the volunteer's skills (in the caller's
    transaction); returns all their expiries. InvalidVolunteer for a skill they lack."""
    name = skill_filter(skill) if skill.strip() else None
    if name is None or name not in volunteer.skills:
        raise InvalidVolunteer("skill", f"{skill[:32]!r} is not one of the volunteer's skills")
    assert volunteer.id is not None
    expiring.set_expiry(
        session=session, volunteer_id=volunteer.id, skill=name, expires_on=expires_on
    )
    session.flush()
    return expiring.expiries_of(session=session, volunteer_ids=[volunteer.id]).get(volunteer.id, {})


def skill_expiries(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, dict[str, date]]:
    """Volunteer id → skill → the last day it is certified, for those with any (the
    matching and the rota read this: a skill without a row never expires)."""
    return expiring.expiries_of(session=session, volunteer_ids=volunteer_ids)


def skills_expiring_before(*, session: Session, before: date) -> dict[int, dict[str, date]]:
    """Every certificate that ends before `before` (local date), by volunteer and skill."""
    return expiring.expiring_before(session=session, before=before)


def update_volunteer(*, session: Session, volunteer: Volunteer, data: VolunteerUpdate) -> list[str]:
    """Apply a dispatcher's edit in the caller's transaction, each given field cleaned as a
    new volunteer's is; returns the names of the fields that changed. Raises
    InvalidVolunteer naming the column (PhoneOnRoster for another volunteer's number), and
    changes nothing then."""
    given = data.model_fields_set
    values: dict[str, Any] = {}
    if "name" in given:
        values["name"] = clean_name(data.name)
    if "phone" in given:
        try:
            phone = normalise_phone(data.phone or "")
        except InvalidPhone as exc:
            raise InvalidVolunteer("phone", str(exc), zh=exc.zh) from None
        other = get_by_phone(session=session, phone=phone)
        if other is not None and other.id != volunteer.id:
            raise PhoneOnRoster(other.id)
        values["phone"] = phone
    expiry: dict[str, date] = {}
    if "skills" in given:
        values["skills"] = clean_skills(data.skills or [])
        # an inline expiry (`急救:2027-03-01`) is kept as on a new volunteer, not dropped
        _, inline = expiring.split_inline(data.skills or [])
        expiry = {clean_skills([raw])[0]: day for raw, day in inline.items()}
    if "language" in given:
        values["language"] = clean_language(data.language)
    where = clean_coordinates(data.lat, data.lon)
    if "district" in given:
        if not (data.district or "").strip():
            raise InvalidVolunteer("district", "is required", zh="区县不能为空")
        district = Resolver(session).district(data.district or "")
        values["district_code"] = district.code
        if where is None and district.code != volunteer.district_code:
            where = near_centre(district, values.get("phone", volunteer.phone))
    if where is not None:
        values["lat"], values["lon"] = where
    changed = [k for k, v in values.items() if getattr(volunteer, k) != v]
    for key in changed:
        setattr(volunteer, key, values[key])
    if changed:
        session.add(volunteer)
        session.flush()
    if "skills" in changed:  # a skill taken away takes its certificate's date with it
        assert volunteer.id is not None
        expiring.drop_for(session=session, volunteer_id=volunteer.id, keep=volunteer.skills)
    if expiry:
        assert volunteer.id is not None
        expiring.set_expiries(session=session, volunteer_id=volunteer.id, expiry=expiry)
        changed.append("skill_expiry")
    return changed


def opt_in(*, session: Session, volunteer: Volunteer) -> None:
    """The volunteer asked for task messages again (told a dispatcher); the caller's
    transaction."""
    volunteer.opted_out = False
    session.add(volunteer)


def existing_phones(*, session: Session, phones: Iterable[str]) -> dict[str, int]:
    """Phone → volunteer id for those of `phones` already on the roster."""
    wanted = list(dict.fromkeys(phones))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for phone, vid in session.exec(
            select(Volunteer.phone, Volunteer.id).where(col(Volunteer.phone).in_(chunk))
        ).all():
            found[phone] = vid  # type: ignore[assignment]
    return found


def list_volunteers(
    *,
    session: Session,
    district: str | None = None,
    skill: str | None = None,
    q: str | None = None,
    team_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Volunteer], int]:
    """A page of the roster ordered by id, and how many match. `district` is a code (resolve
    names first), `skill` a playbook skill name, `q` part of a name or a phone number."""
    conditions: list[Any] = []
    if district:
        conditions.append(Volunteer.district_code == district)
    if skill:
        # skills is a JSON list; matching its text form works the same on SQLite and PostgreSQL
        needle = '"' + skill.replace("\\", "").replace('"', "") + '"'
        conditions.append(cast(Volunteer.skills, String).contains(needle))
    if team_id is not None:
        conditions.append(Volunteer.team_id == team_id)
    if q:
        text = q.strip()
        digits = re.sub(r"\D", "", text)
        options = [col(Volunteer.name).contains(text)]
        if len(digits) >= 4:
            options.append(col(Volunteer.phone).contains(digits))
        conditions.append(or_(*options))
    query = select(Volunteer)
    count_query = select(func.count()).select_from(Volunteer)
    for condition in conditions:
        query = query.where(condition)
        count_query = count_query.where(condition)
    rows = session.exec(query.order_by(col(Volunteer.id)).offset(offset).limit(limit)).all()
    return list(rows), int(session.exec(count_query).one())


# The roster as the matching reads it: plain rows in bulk (building 20,000 ORM objects would
# cost more than the matching itself).

#: the columns of the rows `available` and `nearest_available` return, in this order
ROSTER_COLUMNS: tuple[Any, ...] = (
    col(Volunteer.id),
    col(Volunteer.lat),
    col(Volunteer.lon),
    col(Volunteer.current_lat),
    col(Volunteer.current_lon),
    col(Volunteer.skills),
    col(Volunteer.recent_hours),
    col(Volunteer.team_id),
)


def _askable() -> tuple[Any, ...]:
    # a sign-up waiting for approval is inactive too; the status says so a second time, so
    # that no path that sets `active` by mistake can send a stranger an offer
    return (
        Volunteer.active == True,  # noqa: E712
        Volunteer.opted_out == False,  # noqa: E712
        Volunteer.status == VolunteerStatus.ACTIVE,
    )


def available(
    *,
    session: Session,
    near: tuple[float, float] | None = None,
    box_deg: float = 0.15,
    exclude: Iterable[int] = (),
) -> list[Any]:
    """Active, opted-in volunteers as rows of ROSTER_COLUMNS, optionally only those whose home
    or current location lies within `box_deg` degrees of `near`; `exclude` is left out."""
    query = select(*ROSTER_COLUMNS).where(*_askable())
    if near is not None:
        lat, lon = near
        query = query.where(
            or_(
                and_(
                    col(Volunteer.lat).between(lat - box_deg, lat + box_deg),
                    col(Volunteer.lon).between(lon - box_deg, lon + box_deg),
                ),
                and_(
                    col(Volunteer.current_lat).between(lat - box_deg, lat + box_deg),
                    col(Volunteer.current_lon).between(lon - box_deg, lon + box_deg),
                ),
            )
        )
    excluded = set(exclude)
    return [r for r in session.exec(query).all() if r[0] not in excluded]


def nearest_available(
    *, session: Session, lat: float, lon: float, limit: int, excluding: Any
) -> list[Any]:
    """The `limit` active, opted-in volunteers nearest to (lat, lon) as rows of
    ROSTER_COLUMNS, leaving out the ids `excluding` selects (a SELECT of one id column, so
    the database does the exclusion however many there are). The distance is flat-earth,
    computed by the database: good enough for a short list the matching then measures."""
    here_lat = func.coalesce(col(Volunteer.current_lat), col(Volunteer.lat))
    here_lon = func.coalesce(col(Volunteer.current_lon), col(Volunteer.lon))
    squeeze = math.cos(math.radians(lat)) ** 2
    distance = (here_lat - lat) * (here_lat - lat) + (here_lon - lon) * (here_lon - lon) * squeeze
    query = (
        select(*ROSTER_COLUMNS)
        .where(*_askable(), col(Volunteer.id).not_in(excluding))
        .order_by(distance)
        .limit(limit)
    )
    return list(session.exec(query).all())


def team_ids(*, session: Session, volunteer_ids: Iterable[int]) -> set[int]:
    """The teams (ids) these volunteers belong to."""
    ids = list(set(volunteer_ids))
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found |= {
            int(t)
            for t in session.exec(
                select(Volunteer.team_id)
                .where(col(Volunteer.id).in_(chunk), col(Volunteer.team_id).is_not(None))
                .distinct()
            ).all()
            if t is not None
        }
    return found


def team_names_of(*, session: Session, volunteer_ids: Iterable[int]) -> dict[int, str]:
    """Volunteer id → the name of their team, for those in one."""
    ids = list(set(volunteer_ids))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        for vid, name in session.exec(
            select(Volunteer.id, Team.name)
            .join(Team, col(Team.id) == col(Volunteer.team_id))
            .where(col(Volunteer.id).in_(ids[start : start + 500]))
        ).all():
            if vid is not None:
                out[vid] = name
    return out


# -- the rota page's sign-in (issue 15; the codes themselves: `phone_login`) ------------------
#: the cookie of a volunteer signed in on the rota page (never a staff session)
ROTA_COOKIE = "nuanliu_rota"


def token_hash(cookie: str) -> str:
    """What is stored of a rota session's cookie."""
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RotaSignIn:
    """A live rota session: whose it is and the CSRF token its writes must carry."""

    volunteer: Volunteer
    csrf_token: str


def rota_session(*, session: Session, cookie: str | None) -> RotaSignIn | None:
    """The volunteer a rota cookie signs in (active, not opted out), or None."""
    if not cookie or len(cookie) > 128:
        return None
    now = utcnow()
    row = session.exec(
        select(VolunteerSession).where(VolunteerSession.token_hash == token_hash(cookie))
    ).first()
    if row is None or (aware(row.expires_at) or now) <= now:
        return None
    volunteer = session.get(Volunteer, row.volunteer_id)
    if (
        volunteer is None
        or not volunteer.active
        or volunteer.opted_out
        or volunteer.status != VolunteerStatus.ACTIVE
    ):
        return None
    return RotaSignIn(volunteer, row.csrf_token)
