"""Shapes on the ground: shapely geometries in [lon, lat] degrees, measured and built in km.

A local equirectangular frame around a point (x east, y north, in km, on the same sphere as
:func:`coordinator.geo.service.haversine_km`) is what areas, buffers and circles are computed
in: at a city's size its error is far below that of the outlines (over Guiyang's 1.2 degrees of
latitude the east-west scale changes by 1%). Never buffer in degrees: a degree of longitude is
11% shorter than one of latitude here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from coordinator.geo.service import EARTH_RADIUS_KM

KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180
#: segments of a CAP circle's outline (a 64-gon's area is 0.2% short of the circle's)
CIRCLE_SEGMENTS = 64


@dataclass(frozen=True)
class Frame:
    """A local km frame whose origin is (lat, lon)."""

    lat: float
    lon: float

    @classmethod
    def around(cls, geom: BaseGeometry) -> Frame:
        centre = geom.centroid if not geom.is_empty else Point(0, 0)
        return cls(lat=centre.y, lon=centre.x)

    @property
    def _kx(self) -> float:
        return KM_PER_DEGREE * math.cos(math.radians(self.lat))

    def to_km(self, geom: BaseGeometry) -> BaseGeometry:
        kx, lon, lat = self._kx, self.lon, self.lat
        return shapely.transform(
            geom,
            lambda xy: np.column_stack(((xy[:, 0] - lon) * kx, (xy[:, 1] - lat) * KM_PER_DEGREE)),
        )

    def to_degrees(self, geom: BaseGeometry) -> BaseGeometry:
        kx, lon, lat = self._kx, self.lon, self.lat
        return shapely.transform(
            geom, lambda xy: np.column_stack((xy[:, 0] / kx + lon, xy[:, 1] / KM_PER_DEGREE + lat))
        )


def area_km2(geom: BaseGeometry) -> float:
    """The area of a [lon, lat] shape in km², measured in a frame around itself."""
    if geom.is_empty:
        return 0.0
    return float(Frame.around(geom).to_km(geom).area)


def circle(lat: float, lon: float, radius_km: float) -> Polygon:
    """A CAP circle (centre, radius in km) as a [lon, lat] polygon: buffered in a km frame
    around its centre, so it is round on the ground, not in degrees."""
    frame = Frame(lat=lat, lon=lon)
    disc = Point(0, 0).buffer(radius_km, quad_segs=CIRCLE_SEGMENTS // 4)
    out = frame.to_degrees(disc)
    assert isinstance(out, Polygon)
    return out


def polygon(ring: Sequence[tuple[float, float]]) -> Polygon | MultiPolygon | None:
    """A CAP polygon (a ring of (lat, lon)) as a valid [lon, lat] shape; a ring that crosses
    itself is split where it does (`make_valid`); None when it encloses no area."""
    if len(ring) < 3:
        return None
    shape = Polygon([(lon, lat) for lat, lon in ring])
    if not shape.is_valid:
        fixed = shapely.make_valid(shape)
        parts = [p for p in shapely.get_parts(fixed) if isinstance(p, Polygon | MultiPolygon)]
        if not parts:
            return None
        merged = shapely.union_all(parts)
        if not isinstance(merged, Polygon | MultiPolygon):
            return None
        shape = merged
    return shape if area_km2(shape) > 1e-6 else None  # a square metre
