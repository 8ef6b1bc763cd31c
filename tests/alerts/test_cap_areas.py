"""CAP polygons and circles against the real district outlines: a part of a district selects
it without its centre, slivers across a border do not, and districts without an outline still
go by their centre."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from coordinator.alerts import cap
from coordinator.demo import DATA as DEMO
from coordinator.geo import shapes
from coordinator.geo.outlines import Outlines, guiyang

OUTLINES = guiyang()
TEN = [
    cap.DistrictRef(d["code"], d["name_zh"], d["name_en"], d["lat"], d["lon"])
    for d in DEMO["districts"]
]
CENTRE = {d.code: Point(d.lon, d.lat) for d in TEN}


def _ring(geom: BaseGeometry) -> str:
    """A [lon, lat] polygon as CAP writes one: "lat,lon lat,lon …", closed."""
    assert isinstance(geom, Polygon)
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in geom.exterior.coords)


def _message(*, polygons: Sequence[str] = (), circles: Sequence[str] = ()) -> cap.CapMessage:
    inner = "<areaDesc>area</areaDesc>"
    inner += "".join(f"<polygon>{p}</polygon>" for p in polygons)
    inner += "".join(f"<circle>{c}</circle>" for c in circles)
    xml = cap.build(
        identifier="AREA-1",
        sender="gz@cma",
        sent=datetime(2014, 1, 5, tzinfo=UTC),
        event="道路结冰",
        headline="道路结冰橙色预警",
        severity="Severe",
        districts=[],
    ).replace("</headline>", f"</headline><area>{inner}</area>")
    (m,) = cap.parse(xml)
    return m


def _km_box(code: str, west: float, south: float, east: float, north: float) -> Polygon:
    """A box in km around a district's centre, as [lon, lat]."""
    c = CENTRE[code]
    out = shapes.Frame(lat=c.y, lon=c.x).to_degrees(box(west, south, east, north))
    assert isinstance(out, Polygon)
    return out


def _outline(code: str) -> BaseGeometry:
    found = OUTLINES.get(code)
    assert found is not None
    return found.shape


def test_a_polygon_over_the_eastern_edge_without_the_centre_selects_the_district():
    """开阳's eastern edge is Guiyang's: a polygon over it, reaching out of the city, holds
    neither 开阳's centre nor any other; the centre test took it for an alert elsewhere."""
    kaiyang = _outline("520121")
    east = max(kaiyang.exterior.coords, key=lambda xy: xy[0])
    area = box(east[0] - 0.12, east[1] - 0.08, east[0] + 0.1, east[1] + 0.08)
    assert not any(area.contains(p) for p in CENTRE.values())
    m = _message(polygons=[_ring(area)])
    assert cap.districts_of(m, TEN, outlines=OUTLINES) == ["520121"]
    assert cap.districts_of(m, TEN, outlines=Outlines()) == []  # by centres alone


def test_a_polygon_over_a_shared_border_far_from_both_centres_selects_both():
    """Across the 南明/花溪 border, kilometres from either centre."""
    nanming, huaxi = _outline("520102"), _outline("520111")
    border = nanming.intersection(huaxi.buffer(0.002)).centroid
    area = box(border.x - 0.02, border.y - 0.02, border.x + 0.02, border.y + 0.02)
    assert not any(area.contains(p) for p in CENTRE.values())
    found = cap.districts_of(_message(polygons=[_ring(area)]), TEN, outlines=OUTLINES)
    assert {"520102", "520111"} <= set(found)


@pytest.mark.parametrize("code", ["520103", "520115", "520121", "520181"])
def test_a_polygon_inside_one_district_selects_only_it(code):
    inner = shapes.Frame.around(_outline(code))
    shrunk = inner.to_degrees(inner.to_km(_outline(code)).buffer(-1.0))
    part = max(shapely.get_parts(shrunk), key=lambda p: p.area).simplify(0.002)
    assert part.is_valid and not part.is_empty
    assert cap.districts_of(_message(polygons=[_ring(part)]), TEN, outlines=OUTLINES) == [code]


def test_a_small_polygon_inside_a_large_district_selects_it():
    """0.25 km² in 开阳 (2,000 km²): far below 1% of the district, all of the area."""
    tiny = _km_box("520121", 3.0, 3.0, 3.5, 3.5)
    assert cap.districts_of(_message(polygons=[_ring(tiny)]), TEN, outlines=OUTLINES) == ["520121"]


def _nearest_neighbour(code: str) -> tuple[str, float]:
    c = CENTRE[code]
    frame = shapes.Frame(lat=c.y, lon=c.x)
    distances = {
        o.code: frame.to_km(o.shape).distance(Point(0, 0)) for o in OUTLINES if o.code != code
    }
    nearest = min(distances, key=lambda k: distances[k])
    return nearest, distances[nearest]


@pytest.mark.parametrize("code", ["520102", "520103", "520112", "520123"])
def test_a_circle_that_reaches_over_a_border_by_a_sliver_does_not_select_the_neighbour(code):
    neighbour, gap = _nearest_neighbour(code)
    c = CENTRE[code]
    over = shapes.circle(c.y, c.x, gap + 0.3)
    assert over.intersects(_outline(neighbour))  # it does reach 300 m over the border
    m = _message(circles=[f"{c.y},{c.x} {gap + 0.3}"])
    assert cap.districts_of(m, TEN, outlines=OUTLINES) == [code]
    # while one that reaches 2.5 km over takes the neighbour too
    m = _message(circles=[f"{c.y},{c.x} {gap + 2.5}"])
    assert neighbour in cap.districts_of(m, TEN, outlines=OUTLINES)


def test_a_polygon_drawn_along_a_border_from_another_map_leaves_the_neighbour_alone():
    """云岩 as another map might draw it: its outline grown by 200 m, so a strip of the
    neighbours comes with it. Only 云岩 is selected."""
    yunyan = _outline("520103")
    frame = shapes.Frame.around(yunyan)
    grown = frame.to_degrees(frame.to_km(yunyan).buffer(0.2)).simplify(0.0005)
    found = cap.districts_of(_message(polygons=[_ring(grown)]), TEN, outlines=OUTLINES)
    assert found == ["520103"]


def test_a_circle_of_radius_zero_is_a_point():
    c = CENTRE["520113"]
    m = _message(circles=[f"{c.y},{c.x} 0"])
    assert cap.districts_of(m, TEN, outlines=OUTLINES) == ["520113"]


def test_a_district_without_an_outline_goes_by_its_centre():
    jingxiu = cap.DistrictRef("130602", "竞秀区", "Jingxiu District", 38.87, 115.46)
    m = _message(
        circles=["38.87,115.47 3"], polygons=["38.8,115.4 38.9,115.4 38.9,115.5 38.8,115.4"]
    )
    assert cap.districts_of(m, [*TEN, jingxiu], outlines=OUTLINES) == ["130602"]


def test_a_polygon_covering_the_city_selects_all_ten():
    everything = box(106.0, 26.0, 107.5, 27.5)
    found = cap.districts_of(_message(polygons=[_ring(everything)]), TEN, outlines=OUTLINES)
    assert sorted(found) == sorted(CENTRE)


def test_a_self_crossing_polygon_is_read_as_its_two_halves():
    """A bow-tie whose lobes sit in 白云 and 南明."""
    a, b = CENTRE["520113"], CENTRE["520102"]
    bowtie = f"{a.y + 0.01},{a.x - 0.01} {b.y - 0.01},{b.x + 0.01} {b.y - 0.01},{b.x - 0.01} "
    bowtie += f"{a.y + 0.01},{a.x + 0.01} {a.y + 0.01},{a.x - 0.01}"
    found = cap.districts_of(_message(polygons=[bowtie]), TEN, outlines=OUTLINES)
    assert {"520113", "520102"} <= set(found)


COORD = st.tuples(st.floats(25.5, 28.0), st.floats(105.5, 108.0))


@hyp_settings(max_examples=100, deadline=None)
@given(
    st.lists(COORD, min_size=3, max_size=12),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 1e7)),
)
def test_any_polygon_or_circle_near_or_far_maps_without_error(ring, circle):
    text = " ".join(f"{lat},{lon}" for lat, lon in [*ring, ring[0]])
    m = _message(polygons=[text], circles=["{},{} {}".format(*circle)])
    found = cap.districts_of(m, TEN, outlines=OUTLINES)
    assert set(found) <= set(CENTRE)
