"""Playbooks: which tasks an alert kind and level creates, where, for how many, with which
skills, in which shift window. Data, not code: this module holds the default Guiyang playbooks
and turns a playbook plus an incident into task specifications; dispatchers edit playbooks
through `PUT /api/playbooks/{kind}` (stored in the `playbooks` table, which wins over these).

A playbook is a JSON object::

    {"scale": {"blue": 0.5, "yellow": 0.75, "orange": 1.0, "red": 1.5},
     "tasks": [{"key": "deice", "kind": "de_icing", "title_zh": "除冰", "title_en": "De-icing",
                "per": "hotspot" | "district" | "station" | "incident",
                "slots": 10, "skills": ["de_icing"], "team_task": false,
                "start_offset_min": 0, "hours": 4,
                "shifts": [{"start": "06:00", "hours": 8}]   # "station" tasks only
               }],
     "hotspots": {"520103": [{"name_zh": ..., "name_en": ..., "lat": ..., "lon": ...}]}}

`slots` is for an orange alert; other levels multiply it by `scale`. Hotspots default to
`DEFAULT_HOTSPOTS`; a district without any gets generic ones around its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SCALE = {"blue": 0.5, "yellow": 0.75, "orange": 1.0, "red": 1.5}


class Shift(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    hours: float = Field(gt=0, le=24)


class TaskRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    kind: str = Field(min_length=1, max_length=32)
    title_zh: str = Field(min_length=1, max_length=40)
    title_en: str = Field(default="", max_length=60)
    per: Literal["hotspot", "district", "station", "incident"]
    slots: int = Field(ge=1, le=1000)
    skills: list[str] = []
    team_task: bool = False
    start_offset_min: int = Field(default=0, ge=0, le=7 * 24 * 60)
    hours: float = Field(default=4, gt=0, le=24)
    shifts: list[Shift] = []


class Hotspot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_zh: str = Field(min_length=1, max_length=60)
    name_en: str = Field(default="", max_length=80)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PlaybookData(BaseModel):
    """The validated shape of a playbook (what `PUT /api/playbooks/{kind}` accepts)."""

    model_config = ConfigDict(extra="forbid")
    scale: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SCALE))
    tasks: list[TaskRule] = Field(min_length=1, max_length=50)
    hotspots: dict[str, list[Hotspot]] = {}

    @field_validator("scale")
    @classmethod
    def _levels(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(DEFAULT_SCALE)
        if unknown:
            raise ValueError(f"unknown levels in scale: {', '.join(sorted(unknown))}")
        if any(v <= 0 or v > 10 for v in value.values()):
            raise ValueError("scale factors must be in (0, 10]")
        return value


#: Hotspots the seed's districts are known for: slopes, bridges, school gates and hospital
#: entrances that ice first and matter most (demo data, positions approximate).
DEFAULT_HOTSPOTS: dict[str, list[dict[str, Any]]] = {
    "520103": [
        {
            "name_zh": "黔灵山路坡道",
            "name_en": "Qianlingshan Rd slope",
            "lat": 26.598,
            "lon": 106.705,
        },
        {
            "name_zh": "北京路贵医附院入口",
            "name_en": "GMU hospital gate, Beijing Rd",
            "lat": 26.594,
            "lon": 106.716,
        },
        {
            "name_zh": "市西路小学校门",
            "name_en": "Shixi Rd primary school gate",
            "lat": 26.586,
            "lon": 106.704,
        },
        {"name_zh": "延安西路大桥", "name_en": "Yan'an W Rd bridge", "lat": 26.582, "lon": 106.700},
        {"name_zh": "八角岩坡道", "name_en": "Bajiaoyan slope", "lat": 26.612, "lon": 106.732},
        {"name_zh": "三桥立交", "name_en": "Sanqiao interchange", "lat": 26.596, "lon": 106.688},
    ],
    "520102": [
        {"name_zh": "花果园立交桥", "name_en": "Huaguoyuan flyover", "lat": 26.563, "lon": 106.689},
        {
            "name_zh": "省人民医院入口",
            "name_en": "Provincial People's Hospital gate",
            "lat": 26.579,
            "lon": 106.716,
        },
        {
            "name_zh": "南明小学校门",
            "name_en": "Nanming primary school gate",
            "lat": 26.573,
            "lon": 106.722,
        },
        {"name_zh": "解放桥", "name_en": "Jiefang bridge", "lat": 26.567, "lon": 106.713},
        {"name_zh": "油榨街坡道", "name_en": "Youzhajie slope", "lat": 26.561, "lon": 106.727},
        {
            "name_zh": "甲秀楼浮玉桥",
            "name_en": "Jiaxiu Tower bridge",
            "lat": 26.571,
            "lon": 106.714,
        },
    ],
}

_GENERIC_SPOTS = [
    ("主干道坡道", "main road slope"),
    ("大桥", "bridge"),
    ("中心小学校门", "central primary school gate"),
    ("人民医院入口", "people's hospital entrance"),
    ("客运站广场", "bus station square"),
    ("老城区台阶路", "old town stepped lane"),
]

_ICE_TASKS: list[dict[str, Any]] = [
    {
        "key": "deice",
        "kind": "de_icing",
        "title_zh": "路面除冰",
        "title_en": "Road de-icing",
        "per": "hotspot",
        "slots": 10,
        "skills": ["de_icing"],
        "hours": 4,
    },
    {
        "key": "elderly",
        "kind": "check_in",
        "title_zh": "独居老人探访",
        "title_en": "Check on elderly living alone",
        "per": "district",
        "slots": 25,
        "skills": ["elderly_care"],
        "hours": 3,
    },
    {
        "key": "reserve",
        "kind": "reserve",
        "title_zh": "机动预备队",
        "title_en": "Reserve team",
        "per": "district",
        "slots": 15,
        "skills": [],
        "hours": 6,
        "team_task": True,
    },
]

DEFAULT_PLAYBOOKS: dict[str, dict[str, Any]] = {
    # Orange road icing over the seed's four districts: 4 × (6 × 10 + 25 + 15) = 400 people,
    # the "400+ workers" of 5 January 2014.
    "ice_storm": {"scale": DEFAULT_SCALE, "tasks": _ICE_TASKS},
    "freezing_rain": {"scale": DEFAULT_SCALE, "tasks": _ICE_TASKS},
    "snow": {
        "scale": DEFAULT_SCALE,
        "tasks": [
            {
                **_ICE_TASKS[0],
                "key": "clear",
                "kind": "snow_clearing",
                "title_zh": "清扫积雪",
                "title_en": "Snow clearing",
            },
            *_ICE_TASKS[1:],
        ],
    },
    "cold_wave": {"scale": DEFAULT_SCALE, "tasks": _ICE_TASKS[1:]},
    "other": {"scale": DEFAULT_SCALE, "tasks": [_ICE_TASKS[2]]},
    "travel_rush": {
        "scale": DEFAULT_SCALE,
        "tasks": [
            {
                "key": "station",
                "kind": "station_shift",
                "title_zh": "平安返乡服务站值守",
                "title_en": "Homeward-journey station shift",
                "per": "station",
                "slots": 3,
                "skills": [],
                "shifts": [{"start": "06:00", "hours": 8}, {"start": "14:00", "hours": 8}],
            },
        ],
    },
}


@dataclass(frozen=True)
class Place:
    """Where a task happens: a district centre, a hotspot or a station."""

    name_zh: str
    name_en: str
    lat: float
    lon: float
    district_code: str | None
    code: str = ""


@dataclass(frozen=True)
class DistrictInfo:
    code: str
    name_zh: str
    name_en: str
    lat: float
    lon: float
    radius_km: float = 5.0


@dataclass
class TaskSpec:
    """A task the playbook asks for; `plan_key` identifies it within its incident."""

    plan_key: str
    kind: str
    title: str
    title_en: str
    place: Place
    slots: int
    skills: list[str]
    starts_at: datetime
    ends_at: datetime
    team_task: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def hotspots_for(data: PlaybookData, district: DistrictInfo) -> list[Place]:
    """The hotspots of `district`: the playbook's, the defaults, or generic ones around its
    centre (so that every district the alert names gets de-icing teams)."""
    listed = data.hotspots.get(district.code)
    raw = (
        [h.model_dump() for h in listed]
        if listed is not None
        else DEFAULT_HOTSPOTS.get(district.code)
    )
    if raw:
        return [
            Place(h["name_zh"], h.get("name_en", ""), h["lat"], h["lon"], district.code)
            for h in raw
        ]
    short = district.name_zh.rstrip("区县市") or district.name_zh
    spots = []
    for i, (zh, en) in enumerate(_GENERIC_SPOTS):
        angle = 2 * math.pi * i / len(_GENERIC_SPOTS)
        r = district.radius_km * 0.4
        lat = district.lat + r * math.cos(angle) / 111.0
        lon = district.lon + r * math.sin(angle) / (111.0 * math.cos(math.radians(district.lat)))
        spots.append(
            Place(
                f"{short}{zh}",
                f"{district.name_en} {en}",
                round(lat, 6),
                round(lon, 6),
                district.code,
            )
        )
    return spots


def scaled(slots: int, level: str, data: PlaybookData) -> int:
    return max(1, round(slots * data.scale.get(level, DEFAULT_SCALE.get(level, 1.0))))


def plan(
    data: PlaybookData,
    *,
    level: str,
    districts: list[DistrictInfo],
    stations: list[Place],
    start: datetime,
    day: date,
    tz: str,
) -> list[TaskSpec]:
    """The tasks a playbook asks for. `start` anchors hour-based windows (the alert's start, or
    now); `day` (local date) anchors station shifts. Deterministic: the same input gives the
    same plan keys, so planning an incident again only adds what is new."""
    out: list[TaskSpec] = []
    zone = ZoneInfo(tz)
    for rule in data.tasks:
        slots = scaled(rule.slots, level, data)
        begins = start + timedelta(minutes=rule.start_offset_min)
        ends = begins + timedelta(hours=rule.hours)

        def spec(
            key: str,
            place: Place,
            s: datetime,
            e: datetime,
            title_suffix: str = "",
            rule: TaskRule = rule,
            slots: int = slots,
        ) -> None:
            out.append(
                TaskSpec(
                    plan_key=key,
                    kind=rule.kind,
                    title=rule.title_zh + title_suffix,
                    title_en=rule.title_en + title_suffix,
                    place=place,
                    slots=slots,
                    skills=list(rule.skills),
                    starts_at=s,
                    ends_at=e,
                    team_task=rule.team_task,
                )
            )

        if rule.per == "hotspot":
            for district in districts:
                for i, spot in enumerate(hotspots_for(data, district)):
                    spec(f"{rule.key}:{district.code}:{i}", spot, begins, ends)
        elif rule.per == "district":
            for district in districts:
                centre = Place(
                    district.name_zh,
                    district.name_en,
                    district.lat,
                    district.lon,
                    district.code,
                )
                spec(f"{rule.key}:{district.code}", centre, begins, ends)
        elif rule.per == "incident":
            if districts:
                first = districts[0]
                centre = Place(first.name_zh, first.name_en, first.lat, first.lon, first.code)
                spec(rule.key, centre, begins, ends)
        else:  # station
            shifts = rule.shifts or [Shift(start="08:00", hours=rule.hours)]
            for station in stations:
                for shift in shifts:
                    hh, mm = (int(x) for x in shift.start.split(":"))
                    s = datetime.combine(day, time(hh, mm), tzinfo=zone)
                    e = s + timedelta(hours=shift.hours)
                    spec(
                        f"{rule.key}:{station.code or station.name_zh}:{day}:{shift.start}",
                        station,
                        s,
                        e,
                        f" {shift.start}",
                    )
    return out
