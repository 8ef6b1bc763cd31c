"""The roster as a CSV or XLSX download, headers and values in words (Chinese by default).

Phone numbers are masked unless the reader is an admin: a roster file leaves the system (a
mail attachment, a USB stick), and a dispatcher's work needs names, districts and skills, not
the numbers the system texts for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from coordinator import sheets
from coordinator.common import aware, mask_phone
from coordinator.geo import service as geo
from coordinator.volunteers import service
from coordinator.volunteers.models import Volunteer

#: (Chinese, English) headers, in the file's order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("编号", "ID"),
    ("姓名", "Name"),
    ("手机号", "Phone"),
    ("区县", "District"),
    ("技能", "Skills"),
    ("短信语言", "SMS language"),
    ("队伍", "Team"),
    ("状态", "Status"),
    ("接收任务短信", "Receives task texts"),
    ("近30天服务时长（小时）", "Hours in the last 30 days"),
    ("加入时间", "Joined"),
)
STATUS_WORDS = {
    "active": ("在册", "active"),
    "pending": ("待审核", "pending"),
    "declined": ("未通过", "declined"),
}
LANGUAGE_WORDS = {"zh": ("中文", "Chinese"), "en": ("英文", "English")}
#: rows read per query: 20,000 volunteers never sit in one list of ORM objects
PAGE = 2_000


def roster_rows(
    *,
    session: Session,
    lang: str,
    masked: bool,
    tz: str = "Asia/Shanghai",
    district: str | None = None,
    skill: str | None = None,
    q: str | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of the roster (filtered as the roster page's search is)."""
    pick = 0 if lang == "zh" else 1
    districts = {
        d.code: (d.name_zh if pick == 0 else d.name_en) for d in geo.list_districts(session=session)
    }
    zone = ZoneInfo(tz)
    rows: list[list[Any]] = []
    offset = 0
    while True:
        page, total = service.list_volunteers(
            session=session, district=district, skill=skill, q=q, offset=offset, limit=PAGE
        )
        teams = service.team_names_of(session=session, volunteer_ids=[v.id or 0 for v in page])
        rows.extend(_row(v, pick, masked, districts, teams, zone) for v in page)
        offset += len(page)
        if not page or offset >= total:
            break
    return [c[pick] for c in COLUMNS], rows


def _row(
    v: Volunteer,
    pick: int,
    masked: bool,
    districts: dict[str, str],
    teams: dict[int, str],
    zone: ZoneInfo,
) -> list[Any]:
    def words(table: dict[str, tuple[str, str]], key: str) -> str:
        return table[key][pick] if key in table else key

    yes, no = ("是", "否") if pick == 0 else ("yes", "no")
    return [
        v.id,
        v.name,
        _phone_cell(v.phone, masked),
        districts.get(v.district_code or "", v.district_code or ""),
        ("、" if pick == 0 else ", ").join(words(service.SKILL_WORDS, s) for s in v.skills),
        words(LANGUAGE_WORDS, v.language),
        teams.get(v.id or 0, ""),
        words(STATUS_WORDS, v.status),
        no if v.opted_out or not v.active else yes,
        round(v.recent_hours, 2),
        _local(v.created_at, zone),
    ]


def _phone_cell(phone: str, masked: bool) -> str:
    """A mainland number as people write it in a sheet (`13800138000`, masked `138****8000`):
    a cell starting with `+` would be taken for a formula by a spreadsheet, and escaped. Other
    numbers stay E.164 (masked as in the logs)."""
    if phone.startswith("+86") and len(phone) == 14:
        national = phone[3:]
        return f"{national[:3]}****{national[-4:]}" if masked else national
    return mask_phone(phone) if masked else phone


def _local(stamp: datetime | None, zone: ZoneInfo) -> str:
    """The day and time where the people are, as a person reads it."""
    when = aware(stamp)
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M") if when else ""


def export(
    *, session: Session, fmt: str, lang: str, masked: bool, tz: str, **filters: Any
) -> tuple[bytes, int]:
    """The roster file and how many volunteers it holds."""
    header, rows = roster_rows(session=session, lang=lang, masked=masked, tz=tz, **filters)
    title = "志愿者名册" if lang == "zh" else "Volunteers"
    return sheets.table_bytes(header, rows, fmt=fmt, title=title), len(rows)
