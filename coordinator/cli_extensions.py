"""Commands that live with their domains, registered on the CLI in one place."""

from __future__ import annotations

from bench import cli as bench_cli
from coordinator.cli import register

register(bench_cli.add_commands)
