"""Vendor the board's front-end libraries from npm into `board/static/vendor/`, with licences.

    python -m coordinator.board.vendor                  # npm pack the pinned versions
    python -m coordinator.board.vendor --package echarts=/tmp/echarts-6.1.0.tgz \\
        --package zrender=/tmp/zrender-6.1.0.tgz       # tarballs fetched before

Apache ECharts (Apache-2.0) draws the board's map. Its `dist/echarts.min.js` is one file with
zrender (BSD-3-Clause, the same version ECharts pins), tslib (0BSD, its notice kept in the
file) and bits of d3 (BSD-3-Clause) inside, so beside it go ECharts' LICENSE and NOTICE, its
`licenses/LICENSE-d3`, and zrender's LICENSE. Each tarball must match the integrity pinned here
(npm's own `sha512-…`), so a changed registry cannot change what we ship. The README written
beside the files records the version, where each file came from and its SHA-256, which a test
compares with the committed files (no network in tests or at run time).
Run at build time only (it needs npm); the product serves the committed files.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from coordinator.npm import NpmMissing, npm_pack

OUT = Path(__file__).parent / "static" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    license: str
    #: npm's Subresource Integrity string of the tarball
    integrity: str
    #: path in the tarball → file name in OUT
    files: tuple[tuple[str, str], ...]


ECHARTS = Package(
    name="echarts",
    version="6.1.0",
    license="Apache-2.0",
    integrity="sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA==",
    files=(
        ("package/dist/echarts.min.js", "echarts.min.js"),
        ("package/LICENSE", "LICENSE.echarts"),
        ("package/NOTICE", "NOTICE.echarts"),
        ("package/licenses/LICENSE-d3", "LICENSE.d3"),
    ),
)
#: bundled inside echarts.min.js; vendored for its licence only
ZRENDER = Package(
    name="zrender",
    version="6.1.0",
    license="BSD-3-Clause",
    integrity="sha512-oEGMDB6pOP2S6OwRR4PdVv610zrjnA3Bh+JnSG12fYJlBKjtNAoEb5fSUoCOOINlH96I2fU38/A2UpRKs67xYQ==",
    files=(("package/LICENSE", "LICENSE.zrender"),),
)
PACKAGES = (ECHARTS, ZRENDER)
#: how the bundle says its version (`echarts.version`)
BUNDLE_VERSION = re.compile(r'\bversion="(\d+\.\d+\.\d+)"')


class VendorError(RuntimeError):
    """A tarball is not the one pinned here, or lacks a file; the message says which."""


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def bundle_version(script: bytes) -> str | None:
    """The version string inside an echarts.min.js."""
    found = BUNDLE_VERSION.search(script.decode("utf-8", "replace"))
    return found.group(1) if found else None


def _members(tarball: Path, names: set[str]) -> dict[str, bytes]:
    out = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            if member.name in names and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                out[member.name] = handle.read()
    return out


def extract(package: Package, tarball: Path) -> dict[str, bytes]:
    """The package's files (by their name in OUT), after checking the tarball is the pinned
    one and its package.json says the pinned version and licence."""
    got = integrity_of(tarball.read_bytes())
    if got != package.integrity:
        raise VendorError(f"{tarball.name}: integrity {got}, expected {package.integrity}")
    wanted = {src for src, _ in package.files} | {"package/package.json"}
    members = _members(tarball, wanted)
    missing = sorted(wanted - set(members))
    if missing:
        raise VendorError(f"{tarball.name} has no {', '.join(missing)}")
    meta = json.loads(members["package/package.json"])
    if (meta.get("name"), meta.get("version"), meta.get("license")) != (
        package.name,
        package.version,
        package.license,
    ):
        raise VendorError(
            f"{tarball.name}: {meta.get('name')} {meta.get('version')} ({meta.get('license')})"
        )
    return {dest: members[src] for src, dest in package.files}


def readme(packages: tuple[Package, ...], files: dict[str, bytes]) -> str:
    """What the directory holds, where from, and how to rebuild it."""
    lines = [
        "# Vendored front-end files",
        "",
        "Written by `python -m coordinator.board.vendor` (or `make vendor`); do not edit by hand.",
        "Committed, so that neither CI nor a running board needs the network; the board serves",
        "them under `/board/static/vendor/`.",
        "",
    ]
    for package in packages:
        lines += [
            f"## {package.name} {package.version} ({package.license})",
            "",
            f"From npm: `npm pack {package.name}@{package.version}`,",
            f"integrity `{package.integrity}`.",
            "",
        ]
        for src, dest in package.files:
            digest = hashlib.sha256(files[dest]).hexdigest()
            lines.append(f"- `{dest}` ← `{src.removeprefix('package/')}`, sha256 `{digest}`")
        lines.append("")
    lines += [
        "zrender is inside `echarts.min.js` (ECharts pins that version); only its licence is here.",
        "`echarts.min.js` also carries tslib's 0BSD notice and parts of d3 (`LICENSE.d3`).",
        "",
        "Rebuild: `python -m coordinator.board.vendor` runs `npm pack` for each package and",
        "refuses a tarball whose integrity differs from the one pinned in `coordinator/board/",
        "vendor.py`; `--package NAME=PATH` uses a tarball fetched before. To upgrade, change the",
        "version and integrity there (`npm view echarts@X dist.integrity`), run it, and check the",
        "board's map in the browser tests.",
        "",
    ]
    return "\n".join(lines)


def write(files: dict[str, bytes], packages: tuple[Package, ...], out: Path) -> None:
    script = files["echarts.min.js"]
    if bundle_version(script) != ECHARTS.version:
        raise VendorError(f"echarts.min.js says version {bundle_version(script)}")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    (out / "README.md").write_text(readme(packages, files), encoding="utf-8")


def _npm_pack(package: Package, folder: Path) -> Path:
    try:
        return npm_pack(f"{package.name}@{package.version}", folder)
    except NpmMissing:
        raise VendorError("npm is not installed (or pass --package NAME=PATH)") from None


def vendor(tarballs: dict[str, Path], out: Path = OUT) -> list[str]:
    """Check and extract every package (npm pack those not given); returns what was written."""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            tarball = tarballs.get(package.name) or _npm_pack(package, Path(tmp))
            files.update(extract(package, tarball))
    write(files, PACKAGES, out)
    return [f"{name} ({len(data) // 1024} KiB)" for name, data in sorted(files.items())]


def _given(values: list[str]) -> dict[str, Path]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in {p.name for p in PACKAGES}:
            raise VendorError(
                f"--package {value!r}: expected NAME=PATH, NAME one of echarts, zrender"
            )
        out[name] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--out", type=Path, default=OUT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        written = vendor(_given(args.package), args.out)
    except (VendorError, subprocess.CalledProcessError, OSError, tarfile.TarError) as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 2
    print("\n".join(f"wrote {line}" for line in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
