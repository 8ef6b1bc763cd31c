"""District outlines: the GeoJSON in `geo/data` (see its README) as shapely shapes by code.

Load once (:func:`guiyang` is cached; the app does it in its lifespan) and hand the
:class:`Outlines` to whoever needs them as a parameter. Shapes are [lon, lat] degrees and
prepared, so that testing many areas against them is quick; :meth:`Outlines.overlaps` measures
in km (see :mod:`coordinator.geo.shapes`). What counts as "covering" a district is the caller's
rule (the CAP intake's is in `alerts/cap.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from coordinator.geo.shapes import Frame, area_km2

DATA = Path(__file__).parent / "data" / "guiyang-districts.geojson"


class OutlineError(ValueError):
    """An outlines file Nuanliu cannot use; the message says which feature and why."""


@dataclass(frozen=True)
class Outline:
    code: str
    name: str
    #: [lon, lat], valid, prepared
    shape: Polygon | MultiPolygon
    area_km2: float


@dataclass(frozen=True)
class Overlap:
    """How much of an area lies in one district."""

    code: str
    km2: float
    #: the overlap's share of the district
    of_district: float
    #: the overlap's share of the area
    of_area: float
    #: the overlap itself, in a km frame around it
    part_km: BaseGeometry = field(repr=False, compare=False)

    def wider_than(self, km: float) -> bool:
        """Somewhere wider than `km`: it holds a disc of that diameter. A strip along a border
        that is narrower everywhere is a sliver."""
        parts = [p for p in shapely.get_parts(self.part_km) if isinstance(p, Polygon)]
        return any(shapely.maximum_inscribed_circle(p, km / 20).length >= km / 2 for p in parts)


class Outlines:
    """Outlines by GB/T 2260 code."""

    def __init__(self, outlines: Iterable[Outline] = ()) -> None:
        self._by_code = {o.code: o for o in outlines}
        for outline in self._by_code.values():
            shapely.prepare(outline.shape)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Outline]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Outline | None:
        return self._by_code.get(code)

    def overlaps(self, area: BaseGeometry, *, codes: Iterable[str] | None = None) -> list[Overlap]:
        """The districts (among `codes`, default all) that `area` ([lon, lat]) overlaps, largest
        overlap first."""
        chosen = (
            self._by_code.values()
            if codes is None
            else [self._by_code[c] for c in codes if c in self._by_code]
        )
        area_total = area_km2(area)
        out = []
        for outline in chosen:
            if not outline.shape.intersects(area):  # prepared: quick for the many misses
                continue
            part = outline.shape.intersection(area)
            if part.is_empty or part.area == 0:
                continue
            in_km = Frame.around(part).to_km(part)
            km2 = float(in_km.area)
            out.append(
                Overlap(
                    code=outline.code,
                    km2=km2,
                    of_district=km2 / outline.area_km2,
                    of_area=km2 / area_total if area_total else 0.0,
                    part_km=in_km,
                )
            )
        return sorted(out, key=lambda o: -o.km2)

    def drawing(self, *, tolerance: float = 7e-4, digits: int = 4) -> dict[str, Any]:
        """The outlines as a GeoJSON FeatureCollection for a map on screen: properties `code`,
        `name` and `cp` (where a label goes: the pole of inaccessibility of the largest part,
        ECharts' own `cp` property; a district's bounding-box centre can lie outside it).

        Simplified as a coverage (`shapely.coverage_simplify`, `tolerance` in degrees: 7e-4
        moves no border more than about 150 m, under a pixel of the whole city on a board),
        so that neighbours keep sharing their borders, and rounded to `digits` decimals: half
        the points, and ECharts redraws the regions on every change of the map (11 → 4.5 ms a
        redraw, measured in Chromium)."""
        chosen = sorted(self._by_code.values(), key=lambda o: o.code)
        simple = shapely.coverage_simplify([o.shape for o in chosen], tolerance)
        features = []
        for outline, shape_ in zip(chosen, simple, strict=True):
            geometry = shapely.transform(shape_, lambda xy: xy.round(digits))
            largest = max(shapely.get_parts(geometry), key=lambda p: p.area)
            label = polylabel(largest, tolerance=1e-3)
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": outline.code,
                        "name": outline.name,
                        "cp": [round(label.x, digits), round(label.y, digits)],
                    },
                    "geometry": mapping(geometry),
                }
            )
        return {"type": "FeatureCollection", "features": features}

    def containing(self, lon: float, lat: float) -> list[str]:
        """Codes whose outline holds the point (two along a shared border)."""
        point = shapely.Point(lon, lat)
        return [o.code for o in self._by_code.values() if o.shape.covers(point)]


def _outline(feature: Any, index: int) -> Outline:
    try:
        props = feature["properties"]
        code, name = str(props["code"]), str(props["name"])
        geom = shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OutlineError(f"feature {index}: {type(exc).__name__}: {exc}") from None
    if not (code.isdigit() and len(code) == 6):
        raise OutlineError(f"feature {index}: code {code!r} is not a six-digit GB/T 2260 code")
    if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
        raise OutlineError(f"feature {index} ({code}): a {geom.geom_type}, not a polygon")
    if not geom.is_valid:
        raise OutlineError(f"feature {index} ({code}): {shapely.is_valid_reason(geom)}")
    return Outline(code=code, name=name, shape=geom, area_km2=area_km2(geom))


def load(path: Path = DATA) -> Outlines:
    """Read a FeatureCollection of district outlines; raises OutlineError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutlineError(f"{path.name}: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise OutlineError(f"{path.name}: not a GeoJSON FeatureCollection")
    outlines = [_outline(f, i) for i, f in enumerate(data.get("features") or [])]
    codes = [o.code for o in outlines]
    if len(set(codes)) != len(codes):
        raise OutlineError(f"{path.name}: a district twice")
    return Outlines(outlines)


@lru_cache
def guiyang() -> Outlines:
    """The packaged outlines of Guiyang's ten districts, read once per process."""
    return load(DATA)
