"""`nuanliu bench NAME`: run a benchmark module from `bench/` and print its table."""

from __future__ import annotations

import importlib
from typing import Annotated

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
}


def add_commands(app: typer.Typer) -> None:
    @app.command()
    def bench(
        name: Annotated[str, typer.Argument(help="which benchmark")],
        quick: Annotated[
            bool, typer.Option("--quick", help="a small run, for smoke tests")
        ] = False,
    ) -> None:
        """Run a benchmark from bench/ and print its table (never asserted)."""
        if name not in BENCHMARKS:
            raise typer.BadParameter(f"unknown benchmark {name!r}; choose: {', '.join(BENCHMARKS)}")
        module = importlib.import_module(BENCHMARKS[name])
        module.run(quick=quick)
