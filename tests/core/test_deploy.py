"""The deployment description stays valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_file_is_valid_and_runs_every_worker():
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    out = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    services = set(out.stdout.split())
    assert {
        "kafka",
        "postgres",
        "api",
        "relay",
        "scheduler",
        "dispatch",
        "notify",
        "provision",
        "inventory",
    } <= services
