"""Commands that live with their domains, registered on the CLI in one place."""

from __future__ import annotations

from bench import cli as bench_cli
from coordinator import check as invariant_check
from coordinator.cli import register
from coordinator.dispatch import simulate as dispatch_simulate
from coordinator.logistics import simulate as logistics_simulate

register(bench_cli.add_commands)
register(invariant_check.add_commands)
register(dispatch_simulate.add_commands)
register(logistics_simulate.add_commands)
