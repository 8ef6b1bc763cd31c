"""The layers of ARCHITECTURE.md, as the import-linter contracts in pyproject.toml declare them:
they hold on the tree, and an import that breaks one (a cycle, a leak) fails them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bench", "nuanliu", "consumers", "coordinator", "events")
LINT = (
    "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
)


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `tree`, with `tree`'s pyproject.toml."""
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " broken" in result.stdout and "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The product's packages and pyproject.toml, copied to plant an import in."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "*.json"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        # a domain reaching up into the consumers: the cycle the runtime once made
        ("coordinator/dispatch/service.py", "import consumers.dispatch", "Layers:"),
        # the contract reaching into the domains
        ("events/outbox.py", "import coordinator.config", "events imports nothing of ours"),
        # a scheduled job reaching for the composition layer to find its engine
        ("coordinator/logistics/jobs.py", "import nuanliu.runtime", "Layers:"),
        # models that know their flows: a cycle inside a domain
        ("coordinator/dispatch/models.py", "import coordinator.dispatch.flows", "Inside a domain"),
        # a domain reading another's table instead of its service
        (
            "coordinator/sms/flows.py",
            "import coordinator.volunteers.models",
            "volunteers.models: imported by volunteers alone",
        ),
        # the product depending on the benchmarks
        ("nuanliu/cli.py", "import bench.cli", "Layers:"),
    ],
)
def test_a_planted_import_breaks_a_contract(
    copy: Path, module: str, planted: str, broken: str
) -> None:
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}  # planted\n")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(broken) and "BROKEN" in line for line in lines), result.stdout


def test_the_bench_command_runs_the_benchmarks_of_the_checkout(monkeypatch) -> None:
    """`nuanliu bench` imports `bench` only when it runs; without it (an installed wheel)
    it says where the benchmarks are instead of failing with a trace."""
    from typer.testing import CliRunner

    from nuanliu import cli

    ran: list[tuple[str, bool]] = []
    monkeypatch.setattr("bench.cli.run", lambda name, *, quick: ran.append((name, quick)))
    assert CliRunner().invoke(cli.app, ["bench", "pipeline", "--quick"]).exit_code == 0
    assert ran == [("pipeline", True)]

    def no_bench(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name="bench")

    monkeypatch.setattr(cli.importlib, "import_module", no_bench)
    result = CliRunner().invoke(cli.app, ["bench", "pipeline"])
    assert result.exit_code == 2 and "source checkout" in result.output, result.output
