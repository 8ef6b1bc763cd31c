"""`nuanliu bench NAME`: run a benchmark module from `bench/` and print its table. The command
is declared in `nuanliu.cli`, which imports this module only when it runs."""

from __future__ import annotations

import importlib

import typer

#: benchmark name → module in `bench/` with a `run(**options)` function
BENCHMARKS: dict[str, str] = {
    "pipeline": "bench.pipeline",
    "dispatch-solver": "bench.dispatch_solver",
    "dispatch": "bench.dispatch",
    "sms": "bench.sms",
    "board": "bench.board",
    "provision": "bench.provision",
    "load": "bench.load",
    "soak": "bench.soak",
    "reports": "bench.reports",
}


def run(name: str, *, quick: bool) -> None:
    """Run the benchmark `name`."""
    if name not in BENCHMARKS:
        raise typer.BadParameter(f"unknown benchmark {name!r}; choose: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    module.run(quick=quick)
