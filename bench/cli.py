"""`nuanliu bench NAME`: run a benchmark module from `bench/` and print its table. The command
is declared in `nuanliu.cli`, which imports this module only when it runs."""

from __future__ import annotations

import importlib
import os

import typer

#: benchmark name → module in `bench/` with a `run(**options)` function
BENCHMARKS: dict[str, str] = {
    "pipeline": "bench.pipeline",
    "dispatch-solver": "bench.dispatch_solver",
    "dispatch": "bench.dispatch",
    "sms": "bench.sms",
    "board": "bench.board",
    "board-browser": "bench.board_browser",
    "provision": "bench.provision",
    "load": "bench.load",
    "soak": "bench.soak",
    "reports": "bench.reports",
    "volunteers": "bench.volunteers",
}


def run(name: str, *, quick: bool) -> None:
    """Run the benchmark `name`."""
    if name not in BENCHMARKS:
        raise typer.BadParameter(f"unknown benchmark {name!r}; choose: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    before = os.getloadavg()
    module.run(quick=quick)
    # every bench's figures scale with what else the machine does: say how busy it was
    after = os.getloadavg()
    typer.echo(
        f"load average (1 / 5 / 15 min) before: {' / '.join(f'{x:.2f}' for x in before)}, "
        f"after: {' / '.join(f'{x:.2f}' for x in after)}, on {os.cpu_count()} CPUs"
    )
