"""District lookup and distance. Names may come as 云岩区, 云岩, Yunyan or a 6/12-digit code."""

from __future__ import annotations

import math
import re

from sqlmodel import Session, select

# The row type this service hands to other domains: they name it from here, never from models
from coordinator.geo.models import District as District

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


_SUFFIXES = ("区", "县", "市")


def _normalise(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def list_districts(*, session: Session) -> list[District]:
    return list(session.exec(select(District).order_by(District.code)).all())


def get_district(*, session: Session, code: str) -> District | None:
    """The district with that GB/T 2260 code, or None."""
    return session.get(District, code)


def resolve(*, session: Session, name_or_code: str) -> District | None:
    """The district a person or a CAP geocode means, or None."""
    raw = _normalise(name_or_code)
    if raw.isdigit():
        code = raw[:6] if len(raw) in (6, 12) else None
        return session.get(District, code) if code else None
    for district in list_districts(session=session):
        zh = district.name_zh
        candidates = {_normalise(zh), _normalise(district.name_en)}
        candidates |= {_normalise(zh[: -len(s)]) for s in _SUFFIXES if zh.endswith(s)}
        en = _normalise(district.name_en)
        candidates |= {
            en.removesuffix(" district").removesuffix("district"),
            en.removesuffix(" county").removesuffix("county"),
            en.removesuffix(" city").removesuffix("city"),
        }
        if raw in candidates:
            return district
    return None
