"""What the board's map is made of, without a browser or the network: the vendored ECharts is
the pinned version and exactly what the vendor script writes (README, licences, hashes), the
vendor script refuses a tarball that is not the pinned one, the wheel's package data take the
files in, and the outlines route answers the ten districts with a label point inside each."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from coordinator.board import vendor
from coordinator.demo import DATA as DEMO
from coordinator.geo import outlines
from tests.board.conftest import login

ROOT = Path(__file__).parent.parent.parent
COMMITTED = {name: (vendor.OUT / name).read_bytes() for p in vendor.PACKAGES for _, name in p.files}


def test_the_committed_echarts_is_the_pinned_version_with_its_licences() -> None:
    assert vendor.bundle_version(COMMITTED["echarts.min.js"]) == vendor.ECHARTS.version
    assert "Apache License" in COMMITTED["LICENSE.echarts"].decode()
    assert b"The Apache Software Foundation" in COMMITTED["NOTICE.echarts"]
    assert b"Redistribution and use in source and binary forms" in COMMITTED["LICENSE.zrender"]
    assert b"Mike Bostock" in COMMITTED["LICENSE.d3"]


def test_the_committed_files_are_what_the_vendor_script_writes() -> None:
    """The README holds each file's hash; rewritten from the committed files it is unchanged,
    so a hand edit of a vendored file (or of the README) fails here."""
    readme = (vendor.OUT / "README.md").read_text("utf-8")
    assert readme == vendor.readme(vendor.PACKAGES, COMMITTED)
    assert f"## echarts {vendor.ECHARTS.version} (Apache-2.0)" in readme
    for name, data in COMMITTED.items():
        assert f"`{name}`" in readme and hashlib.sha256(data).hexdigest() in readme
    on_disk = {p.name for p in vendor.OUT.iterdir()}
    assert on_disk == set(COMMITTED) | {"README.md"}


def test_the_wheel_takes_the_vendored_files_in() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["coordinator"]
    package = ROOT / "coordinator"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    assert {vendor.OUT / name for name in COMMITTED} <= shipped
    assert package / "board" / "static" / "map.js" in shipped


# -- the vendor script, offline, on tarballs made here -----------------------------------------
def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _echarts_files(**changes: Any) -> dict[str, bytes]:
    meta = {"name": "echarts", "version": vendor.ECHARTS.version, "license": "Apache-2.0"}
    meta.update(changes)
    return {
        "package/package.json": json.dumps(meta).encode(),
        "package/dist/echarts.min.js": f'x.version="{meta["version"]}";'.encode(),
        "package/LICENSE": b"Apache License",
        "package/NOTICE": b"Apache ECharts",
        "package/licenses/LICENSE-d3": b"d3",
    }


def _pinned_to(tarball: Path) -> vendor.Package:
    return dataclasses.replace(vendor.ECHARTS, integrity=vendor.integrity_of(tarball.read_bytes()))


def test_the_vendor_script_writes_the_files_and_a_readme(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "echarts.tgz", _echarts_files())
    package = _pinned_to(tarball)
    files = vendor.extract(package, tarball)
    out = tmp_path / "vendor"
    vendor.write(files, (package,), out)
    assert (out / "echarts.min.js").read_bytes() == files["echarts.min.js"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*files, "README.md"])
    assert hashlib.sha256(files["LICENSE.echarts"]).hexdigest() in (out / "README.md").read_text()


def test_the_vendor_script_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "echarts.tgz", _echarts_files())
    with pytest.raises(vendor.VendorError, match="integrity"):
        vendor.extract(vendor.ECHARTS, tarball)  # the real pin: these bytes are not echarts


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({k: v for k, v in _echarts_files().items() if "NOTICE" not in k}, "has no package/NOTICE"),
        (_echarts_files(version="5.0.0"), "echarts 5.0.0"),
        (_echarts_files(license="MIT"), r"\(MIT\)"),
        (_echarts_files(name="echarts-fork"), "echarts-fork"),
    ],
)
def test_the_vendor_script_refuses_a_package_unlike_the_pinned_one(
    tmp_path: Path, files: dict[str, bytes], match: str
) -> None:
    tarball = _tarball(tmp_path / "echarts.tgz", files)
    with pytest.raises(vendor.VendorError, match=match):
        vendor.extract(_pinned_to(tarball), tarball)


def test_the_vendor_script_refuses_a_bundle_of_another_version(tmp_path: Path) -> None:
    files = dict(COMMITTED, **{"echarts.min.js": b'x.version="5.4.3";'})
    with pytest.raises(vendor.VendorError, match=r"5\.4\.3"):
        vendor.write(files, vendor.PACKAGES, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("value", ["echarts", "leaflet=/tmp/x.tgz", "=x"])
def test_the_vendor_script_says_what_is_wrong_with_its_arguments(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vendor.main(["--package", value]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_the_vendor_script_says_which_tarball_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "echarts.tgz").write_bytes(b"not a tarball")
    args = ["--package", f"echarts={tmp_path / 'echarts.tgz'}", "--out", str(tmp_path / "out")]
    assert vendor.main(args) == 2
    assert "integrity" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- the routes ------------------------------------------------------------------------------
def test_the_outlines_route_answers_ten_districts_for_the_map(web: Any, users: Any) -> None:
    assert login(web, "dora").status_code == 303
    answer = web.get("/board/geo/guiyang.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    assert "max-age" in answer.headers["cache-control"]
    data = answer.json()
    assert data["type"] == "FeatureCollection"
    names = {f["properties"]["code"]: f["properties"]["name"] for f in data["features"]}
    assert names == {d["code"]: d["name_zh"] for d in DEMO["districts"]}
    stored = outlines.guiyang()
    for feature in data["features"]:
        drawn = shape(feature["geometry"])
        own = stored.get(feature["properties"]["code"])
        assert own is not None and drawn.is_valid
        # simplified and rounded: no border more than about 150 m from where it was
        assert drawn.hausdorff_distance(own.shape) < 1.5e-3
        assert drawn.contains(shapely.Point(feature["properties"]["cp"]))
    # simplified as a coverage: neighbours still share their borders (no gap, no overlap)
    shapes = [shape(f["geometry"]) for f in data["features"]]
    assert abs(sum(s.area for s in shapes) / shapely.union_all(shapes).area - 1) < 1e-3
    assert len(answer.content) < 0.6 * outlines.DATA.stat().st_size


def test_the_outlines_route_is_for_dispatchers(web: Any, users: Any) -> None:
    assert (
        web.get("/board/geo/guiyang.json", headers={"Accept": "application/json"}).status_code
        == 401
    )
    assert login(web, "mia").status_code == 303  # a station manager
    assert (
        web.get("/board/geo/guiyang.json", headers={"Accept": "application/json"}).status_code
        == 403
    )


def test_the_board_page_loads_echarts_from_this_server(web: Any, users: Any) -> None:
    login(web, "dora")
    page = web.get("/board", headers={"Accept": "text/html"}).text
    assert '<script src="/board/static/vendor/echarts.min.js">' in page
    assert "http://" not in page and "https://" not in page
    script = web.get("/board/static/vendor/echarts.min.js")
    assert script.status_code == 200 and script.content == COMMITTED["echarts.min.js"]
    assert "javascript" in script.headers["content-type"]
    assert web.get("/board/static/vendor/../../views.py").status_code == 404
