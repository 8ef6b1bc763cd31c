"""The board's map of Guiyang in headless Chromium, against the whole system: the ten districts
from their real outlines with their names in Chinese and in English, stations and the warehouse
where their coordinates put them, a district under an alert in its warning level's colour, the
whole city back after a zoom, at a wall screen's, a laptop's and a phone's size, for print, and
not one request to anywhere but this machine (ECharts is vendored, nothing from a CDN).

What is checked is what ECharts drew (its SVG, in the page's own pixels), not the option the
page handed it: the region paths, their fills, the markers' positions, the label texts."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.serving import Served
from coordinator.geo import outlines
from coordinator.geo import service as geo
from coordinator.logistics import service as logistics
from tests.board.browser import shot
from tests.board.test_browser import log_in, wait_live

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# map.js' screen palette
BORDER = "#4a6a88"
AREA = "#1f3346"
STATION = "#4aa3ff"
WAREHOUSE = "#ff8a3d"
ORANGE = "#ff8a3d"
PRINT_AREA = "#f4f4f4"
TASK_COLOURS = ["#2fbf71", "#f0b429", "#e5484d"]
#: a degree of longitude against one of latitude at Guiyang (26.6° N)
K = math.cos(math.radians(26.6))

#: what ECharts drew: region paths (one per district) and markers (symbols are placed by a
#: `matrix(…)` transform; legend icons by `translate`), in pixels of the map's box
DRAWN = """() => {
  const el = document.getElementById('map'), box = el.getBoundingClientRect();
  const rect = e => { const r = e.getBoundingClientRect();
    return {left: r.left - box.left, top: r.top - box.top, right: r.right - box.left,
            bottom: r.bottom - box.top, x: (r.left + r.right) / 2 - box.left,
            y: (r.top + r.bottom) / 2 - box.top}; };
  const paths = Array.from(el.querySelectorAll('svg path'));
  return {
    box: {width: box.width, height: box.height},
    regions: paths.filter(p => p.getAttribute('d').length > 400 && p.getAttribute('stroke'))
      .map(p => ({fill: p.getAttribute('fill'), stroke: p.getAttribute('stroke'), ...rect(p)})),
    markers: paths.filter(p => /^matrix\\((?!0,0,0,0)/.test(p.getAttribute('transform') || ''))
      .map(p => ({fill: p.getAttribute('fill'), ...rect(p)})),
    texts: Array.from(el.querySelectorAll('svg text')).map(t => t.textContent),
  };
}"""
#: is the pixel (x, y) of the map's box inside the region path filled with `fill`?
INSIDE = """([fill, x, y]) => {
  const el = document.getElementById('map'), box = el.getBoundingClientRect();
  return Array.from(el.querySelectorAll('svg path'))
    .filter(p => p.getAttribute('fill') === fill && p.getAttribute('d').length > 400)
    .some(p => { const m = p.getScreenCTM().inverse();
      const pt = new DOMPoint(box.left + x, box.top + y).matrixTransform(m);
      return p.isPointInFill(pt); });
}"""
#: the district names' <text> come after every marker in the SVG, so they are painted over them
LABELS_ON_TOP = """names => {
  const svg = document.querySelector('#map svg');
  const texts = Array.from(svg.querySelectorAll('text')).filter(t => names.includes(t.textContent));
  const marks = Array.from(svg.querySelectorAll('path'))
    .filter(p => /^matrix\\(/.test(p.getAttribute('transform') || ''));
  return texts.length === names.length && marks.length > 0 && texts.every(t => marks.every(m =>
    m.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING));
}"""
LABEL_BOXES = """names => Array.from(document.querySelectorAll('#map svg text'))
  .filter(t => names.includes(t.textContent))
  .map(t => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"""
HAS_TEXT = """text => Array.from(document.querySelectorAll('#map svg text'))
  .some(t => t.textContent === text)"""
#: pixel of [lon, lat] in the map's box, by ECharts' own projection
PIXEL = """lonlat => echarts.getInstanceByDom(document.getElementById('map'))
  .convertToPixel({geoIndex: 0}, lonlat)"""


def _drawn(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(DRAWN))


def _union(regions: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "left": min(r["left"] for r in regions),
        "top": min(r["top"] for r in regions),
        "right": max(r["right"] for r in regions),
        "bottom": max(r["bottom"] for r in regions),
    }


def _whole_city_visible(drawn: dict[str, Any]) -> bool:
    city, box = _union(drawn["regions"]), drawn["box"]
    return (
        city["left"] >= -0.5
        and city["top"] >= -0.5
        and city["right"] <= box["width"] + 0.5
        and city["bottom"] <= box["height"] + 0.5
    )


def _places(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as s:
        return [
            p.model_dump(mode="json")
            for kind in ("station", "warehouse")
            for p in logistics.list_places(session=s, kind=kind)
        ]


def _districts(engine: Engine) -> dict[str, Any]:
    with Session(engine) as s:
        return {d.code: d for d in geo.list_districts(session=s)}


def _nearest(markers: list[dict[str, Any]], fill: str, x: float, y: float) -> dict[str, Any]:
    return min(
        (m for m in markers if m["fill"] == fill),
        key=lambda m: (m["x"] - x) ** 2 + (m["y"] - y) ** 2,
    )


def _check_places_at_their_coordinates(page: Any, places: list[dict[str, Any]]) -> None:
    """Every station and the warehouse has its marker where ECharts projects its lon/lat, and
    the markers' pixels are one linear map of their coordinates, with a degree of longitude K
    times a degree of latitude (so nothing is drawn at a district's centre instead)."""
    drawn = _drawn(page)
    found = []
    for place in places:
        fill = WAREHOUSE if place["kind"] == "warehouse" else STATION
        x, y = page.evaluate(PIXEL, [place["lon"], place["lat"]])
        marker = _nearest(drawn["markers"], fill, x, y)
        assert math.hypot(marker["x"] - x, marker["y"] - y) < 2, (place["name_zh"], marker, x, y)
        found.append((place["lon"], place["lat"], marker["x"], marker["y"]))
    west, east = min(found), max(found)
    south, north = min(found, key=lambda f: f[1]), max(found, key=lambda f: f[1])
    per_lon = (east[2] - west[2]) / (east[0] - west[0])
    per_lat = (north[3] - south[3]) / (north[1] - south[1])  # negative: north is up
    assert per_lon > 0 and per_lat < 0
    assert abs(per_lon / -per_lat - K) < 0.02 * K
    for lon, lat, x, y in found:
        assert abs(west[2] + (lon - west[0]) * per_lon - x) < 2
        assert abs(south[3] + (lat - south[1]) * per_lat - y) < 2


def _check_labels_readable(page: Any, names: list[str]) -> None:
    """The districts' names are painted after (over) every marker, and none overlaps another."""
    assert page.evaluate(LABELS_ON_TOP, names)
    boxes = page.evaluate(LABEL_BOXES, names)
    assert len(boxes) == len(names)
    markers = _drawn(page)["markers"]  # in the map's box; the label boxes are the page's
    left, top = page.eval_on_selector(
        "#map", "el => [el.getBoundingClientRect().left, el.getBoundingClientRect().top]"
    )
    for box in boxes:
        under = [
            m for m in markers if box[0] < left + m["x"] < box[2] and box[1] < top + m["y"] < box[3]
        ]
        assert not under, (box, under)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            # 2 px of slack: ECharts measures a label with the canvas' text metrics, the SVG
            # text's box comes from the browser's (they differ by a pixel or so)
            apart = a[2] <= b[0] + 2 or b[2] <= a[0] + 2 or a[3] <= b[1] + 2 or b[3] <= a[1] + 2
            assert apart, (a, b)


def test_the_map_draws_guiyang_and_its_alerts(
    served: Served,
    chromium: Any,
    engine: Engine,
    tokens: dict[str, str],
) -> None:
    page = chromium.new_page(viewport={"width": 1920, "height": 1080})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    step = ["load"]  # what the test was doing when the page threw
    page.on("pageerror", lambda exc: errors.append(f"{step[0]}: {exc} {exc.stack}"))
    log_in(page, served.url, "dora")
    wait_live(page)
    page.wait_for_selector("#map[data-state=drawn]", timeout=20_000)
    districts = _districts(engine)
    places = _places(engine)
    assert len(districts) == 10 and any(p["kind"] == "warehouse" for p in places)

    # ten district outlines, none under an alert yet, each with its Chinese name
    step[0] = "outlines"
    drawn = _drawn(page)
    assert len(drawn["regions"]) == 10
    assert {r["fill"] for r in drawn["regions"]} == {AREA}
    assert {r["stroke"] for r in drawn["regions"]} == {BORDER}
    assert {d.name_zh for d in districts.values()} <= set(drawn["texts"])
    legend = {"服务站", "仓库", "任务已满员", "任务部分到位", "任务缺人", "蓝色预警", "红色预警"}
    assert legend <= set(drawn["texts"])
    assert _whole_city_visible(drawn)
    _check_places_at_their_coordinates(page, places)
    _check_labels_readable(page, [d.name_zh for d in districts.values()])

    # an orange alert on 云岩区: that district turns orange, and no other
    step[0] = "alert"
    drawing = outlines.guiyang().drawing()  # what /board/geo/guiyang.json answers
    cp = {f["properties"]["code"]: f["properties"]["cp"] for f in drawing["features"]}
    yunyan = next(d for d in districts.values() if d.name_zh == "云岩区")

    alert = httpx.post(
        f"{served.url}/api/alerts",
        headers={"Authorization": f"Bearer {tokens['dispatcher']}"},
        json={
            "kind": "ice_storm",
            "level": "orange",
            "districts": ["云岩区"],
            "headline": "路面结冰橙色预警",
        },
        timeout=30,
    )
    assert alert.status_code == 202, alert.text
    incident = f'.incident[data-incident-id="{alert.json()["incident_id"]}"]'
    page.wait_for_selector(f"{incident} .task", timeout=30_000)
    page.wait_for_function(
        f"""() => Array.from(document.querySelectorAll('#map svg path')).some(p =>
              p.getAttribute('fill') === '{ORANGE}' && p.getAttribute('d').length > 400)""",
        timeout=10_000,
    )
    drawn = _drawn(page)
    assert sorted(r["fill"] for r in drawn["regions"]) == sorted([ORANGE] + [AREA] * 9)
    x, y = page.evaluate(PIXEL, cp[yunyan.code])
    assert page.evaluate(INSIDE, [ORANGE, x, y]), "云岩区 is not the orange district"
    for code, point in cp.items():
        if code != yunyan.code:
            px, py = page.evaluate(PIXEL, point)
            assert not page.evaluate(INSIDE, [ORANGE, px, py]), code
    # every task of the incident is on the map
    tasks = page.eval_on_selector_all(f"{incident} .task", "els => els.length")
    on_map = [m for m in drawn["markers"] if m["fill"] in TASK_COLOURS]
    assert tasks >= 1 and len(on_map) >= tasks
    shot(page, "board-map-1920", full_page=False)

    # a station's tooltip names it
    step[0] = "tooltip"
    station = next(
        p for p in places if p["kind"] == "station" and p["district_code"] != yunyan.code
    )
    x, y = page.evaluate(PIXEL, [station["lon"], station["lat"]])
    box = page.eval_on_selector(
        "#map", "el => { const r = el.getBoundingClientRect(); return [r.x, r.y]; }"
    )
    page.mouse.move(box[0] + x, box[1] + y)
    page.wait_for_function(
        "name => Array.from(document.querySelectorAll('#map div'))"
        ".some(d => d.textContent.includes(name))",
        arg=station["name_zh"],
        timeout=5_000,
    )

    # English (the pointer still on the station): the same ten districts by their English
    step[0] = "english"
    # names, nothing left in Chinese
    page.click("#lang-toggle")
    page.wait_for_function(HAS_TEXT, arg="Yunyan")
    drawn = _drawn(page)
    english = {d.name_en.rsplit(" ", 1)[0] for d in districts.values()}
    assert english <= set(drawn["texts"])
    _check_labels_readable(page, sorted(english))
    assert not {d.name_zh for d in districts.values()} & set(drawn["texts"])
    assert {"stations", "warehouse", "task unfilled", "Orange warning"} <= set(drawn["texts"])
    assert len(drawn["regions"]) == 10
    assert page.inner_text("#map-reset") == "Whole city"
    page.click("#lang-toggle")
    page.wait_for_function(HAS_TEXT, arg="云岩区")

    # zoom in with the wheel: the city no longer fits; the reset button shows all of it again
    step[0] = "zoom"
    whole = _union(_drawn(page)["regions"])
    box = page.eval_on_selector(
        "#map",
        "el => { const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }",
    )
    page.mouse.move(box[0] + box[2] / 2, box[1] + box[3] / 2)
    for _ in range(5):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(80)
    page.wait_for_function(
        "() => { const r = Array.from(document.querySelectorAll('#map svg path'))"
        ".filter(p => p.getAttribute('d').length > 400).map(p => p.getBoundingClientRect());"
        " const b = document.getElementById('map').getBoundingClientRect();"
        " return r.some(x => x.left < b.left - 1 || x.right > b.right + 1); }",
        timeout=10_000,
    )
    assert not _whole_city_visible(_drawn(page))
    shot(page, "board-map-zoomed", full_page=False)
    page.click("#map-reset")
    drawn = _drawn(page)
    assert _whole_city_visible(drawn)
    again = _union(drawn["regions"])
    assert all(abs(again[k] - whole[k]) < 1 for k in whole), (again, whole)
    _check_places_at_their_coordinates(page, places)

    # a laptop and a phone: the map shrinks with the page and still shows the whole city
    step[0] = "sizes"
    for name, size in [("1366", (1366, 768)), ("phone", (360, 740))]:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_function(
            f"() => document.querySelector('#map svg').getAttribute('width') <= {size[0]}"
        )
        page.wait_for_timeout(100)
        drawn = _drawn(page)
        assert 0 < drawn["box"]["width"] <= size[0]
        assert len(drawn["regions"]) == 10 and _whole_city_visible(drawn)
        _check_places_at_their_coordinates(page, places)
        page.eval_on_selector("#map", "el => el.scrollIntoView()")
        shot(page, f"board-map-{name}", full_page=False)

    # print: white paper, the alert still in its colour, no reset button
    step[0] = "print"
    page.set_viewport_size({"width": 1366, "height": 768})
    page.emulate_media(media="print")
    page.wait_for_function(
        f"""() => Array.from(document.querySelectorAll('#map svg path'))
              .some(p => p.getAttribute('fill') === '{PRINT_AREA}')""",
        timeout=10_000,
    )
    drawn = _drawn(page)
    assert sorted(r["fill"] for r in drawn["regions"]) == sorted([ORANGE] + [PRINT_AREA] * 9)
    assert not page.is_visible("#map-reset")
    shot(page, "board-map-print")
    page.emulate_media(media="screen")

    assert not errors, errors
    hosts = {urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}, sorted(u for u in requests if "127.0.0.1" not in u)
    assert any(u.endswith("/board/static/vendor/echarts.min.js") for u in requests)
    # the outlines came once; the snapshots do not carry them
    assert sum(u.endswith("/board/geo/guiyang.json") for u in requests) == 1
    snap = page.evaluate("() => NL.api('GET', '/board/snapshot')")
    assert "coordinates" not in json.dumps(snap)
    page.close()
