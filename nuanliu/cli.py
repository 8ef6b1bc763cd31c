"""`nuanliu`: run everything, run one part, load demo data, make tokens, check the database,
simulate the seed's scenarios, run the benchmarks. Every command is declared here, in one
place (the domains own the functions behind `check` and `simulate`).

Errors a person can fix (a bad DATABASE_URL, an unreachable broker) end the command with one
clear line and exit code 2, never a stack trace.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session

from consumers import CONSUMERS, consumer_tables
from consumers.redrive import redrive as redrive_owed
from coordinator.accounts.people import first_start_hook
from coordinator.accounts.service import create_token
from coordinator.common import MaskPhones
from coordinator.config import Settings, SettingsError, get_settings
from coordinator.db import make_engine
from coordinator.demo import is_loaded, load_demo
from coordinator.dispatch import simulate as dispatch_simulate
from coordinator.logistics import simulate as logistics_simulate
from coordinator.sms import templates as sms_texts
from events.bus import BrokerUnreachable
from nuanliu import check as invariants
from nuanliu.app import create_app
from nuanliu.runtime import Runtime
from nuanliu.schema import migrate

app = typer.Typer(add_completion=False, no_args_is_help=True, help="暖流 Nuanliu coordinator")
token_app = typer.Typer(no_args_is_help=True, help="API tokens")
app.add_typer(token_app, name="token")
console = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> None:
    err.print(f"[bold red]nuanliu:[/] {message}")
    raise typer.Exit(2)


def load_settings(**overrides: Any) -> Settings:
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            message = str(first.get("ctx", {}).get("error") or first.get("msg"))
            fail(f"bad setting {'.'.join(map(str, first['loc']))}: {message}")
        fail(str(exc))
        raise  # unreachable; keeps type checkers content
    return settings.model_copy(update=overrides) if overrides else settings


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except BrokerUnreachable as exc:
        fail(str(exc))
    except (OperationalError, ArgumentError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        fail(f"cannot use the database: {reason}")
    except SettingsError as exc:
        fail(str(exc))


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskPhones())  # no whole phone number in any log line
    logging.getLogger("kafka").setLevel(logging.WARNING)


#: What needs doing on first start besides the demo data (the board's one-time admin login).
FIRST_START_HOOKS: tuple[Callable[[Session, Console], None], ...] = (first_start_hook,)


def _first_start(runtime: Runtime, *, empty: bool) -> None:
    with Session(runtime.engine) as session:
        settings = runtime.settings
        if settings.admin_token is not None:
            create_token(
                session=session,
                role="admin",
                label="NUANLIU_ADMIN_TOKEN",
                value=settings.admin_token.get_secret_value(),
            )
            session.commit()
        if not empty and not is_loaded(session):
            console.print("Loading the Guiyang demo data (first start)…")
            load_demo(session, progress=True)
            token = create_token(session=session, role="admin", label="first-start")
            session.commit()
            console.print(f"One-time admin token (shown once): [bold]{token}[/]")
        for hook in FIRST_START_HOOKS:
            hook(session, console)


def _serve(runtime: Runtime, host: str, port: int) -> None:
    """Serve HTTP until SIGTERM or SIGINT, then shut down in order: stop taking requests and
    scheduled work, let the work in hand finish (`Runtime.drain`), stop the parts. A second
    signal cuts the wait short. uvicorn's own handling would re-raise the signal after its
    shutdown and end the process before the runtime's."""
    api = create_app(runtime=runtime)
    console.print(
        f"Nuanliu board: [bold]http://{host}:{port}/board[/]   API docs: http://{host}:{port}/docs"
    )
    server = _OwnSignalsServer(
        uvicorn.Config(api, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    )
    signals = 0

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal signals
        signals += 1
        server.should_exit = True
        if signals == 1:
            err.print(f"{signal.Signals(signum).name}: stopping (again to force)…")
        else:
            server.force_exit = True
            runtime.force.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
        if not runtime.drain():
            err.print("stopped with work in hand; it is redriven on the next start")
    finally:
        runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _OwnSignalsServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to its caller."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    empty: Annotated[bool, typer.Option("--empty", help="do not load the demo data")] = False,
) -> None:
    """Everything in one process: API, board, consumers, relay, scheduler (and the embedded
    broker when KAFKA_BOOTSTRAP_SERVERS is unset)."""
    _logging()
    settings = load_settings()
    with friendly_errors():
        runtime = Runtime(settings, relay=True, consumers=CONSUMERS, scheduler=True).start()
    try:
        _first_start(runtime, empty=empty)
    except BaseException:
        runtime.stop()
        raise
    _serve(runtime, host or settings.host, port or settings.port)


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="API processes sharing the port (uvicorn workers)")
    ] = 1,
) -> None:
    """The API and board alone (with the board's own event feed), for scale-out."""
    _logging()
    settings = load_settings()
    if workers > 1 and settings.embedded_broker:
        fail(
            "--workers needs KAFKA_BOOTSTRAP_SERVERS: each process would start a broker of its own"
        )
    with friendly_errors():
        runtime = Runtime(settings, relay=False, consumers=() if workers > 1 else ("board",))
        runtime.start()
    try:
        _first_start(runtime, empty=True)
        if workers == 1:
            _serve(runtime, host or settings.host, port or settings.port)
            return
    finally:
        runtime.stop()
    # migrated and checked above, once; each process builds its own runtime (and board feed)
    uvicorn.run(
        "nuanliu.app:create_app",
        factory=True,
        workers=workers,
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


WORKERS = (*CONSUMERS, "relay", "scheduler")


@app.command()
def worker(name: Annotated[str, typer.Argument(help=" | ".join(WORKERS))]) -> None:
    """One part alone; start more copies of a consumer to share its load."""
    if name not in WORKERS:
        fail(f"unknown worker {name!r}; choose one of: {', '.join(WORKERS)}")
    _logging()
    settings = load_settings()
    with friendly_errors():
        runtime = Runtime(
            settings,
            relay=name == "relay",
            consumers=(name,) if name in CONSUMERS else (),
            scheduler=name == "scheduler",
        ).start()
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        if stop.is_set():
            runtime.force.set()  # a second signal: stop without finishing the work in hand
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    console.print(f"worker {name} running; Ctrl-C stops it")
    try:
        while not stop.wait(1.0):
            dead = [n for n, r in runtime.runners.items() if not r.alive]
            if dead:
                err.print(f"consumer {dead[0]} stopped unexpectedly")
                sys.exit(1)
        runtime.drain()
    finally:
        runtime.stop()


@app.command()
def redrive(
    since: Annotated[
        str | None,
        typer.Option(
            help="only events staged at or after this time (ISO 8601, e.g. 2026-12-02T08:00)"
        ),
    ] = None,
) -> None:
    """Publish again every event a consumer never applied (after a broker lost data). Safe
    to run at any time: consumers skip what they applied. The relay sends them, in order."""
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since {since!r} is not a date and time like 2026-12-02T08:00")
        assert start is not None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    settings = load_settings()
    with friendly_errors():
        engine = make_engine(settings)
        migrate(engine)
        owed = redrive_owed(engine, consumer_tables(), since=start)
    console.print(f"{len(owed)} event(s) marked to publish again")


@app.command()
def demo(seed: int = 20140105) -> None:
    """Load the Guiyang demo data into an empty database."""
    settings = load_settings()
    with friendly_errors():
        engine = make_engine(settings)
        migrate(engine)
        with Session(engine) as session:
            loaded = load_demo(session, seed=seed, progress=True)
    console.print("demo data loaded" if loaded else "the database already has data; nothing done")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin | dispatcher | station_manager")],
    station: Annotated[list[int] | None, typer.Option(help="station id (repeatable)")] = None,
    label: Annotated[str, typer.Option()] = "",
) -> None:
    """Print a new API token (it is stored hashed and cannot be shown again)."""
    settings = load_settings()
    with friendly_errors():
        engine = make_engine(settings)
        migrate(engine)
        with Session(engine) as session:
            try:
                token = create_token(
                    session=session, role=role, station_ids=list(station or []), label=label
                )
            except ValueError as exc:
                fail(str(exc))
            session.commit()
    print(token)


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="which benchmark")],
    quick: Annotated[bool, typer.Option("--quick", help="a small run, for smoke tests")] = False,
) -> None:
    """Run a benchmark from bench/ and print its table (never asserted)."""
    # Imported when the command runs, never by the product: the benchmarks are a tool of the
    # source checkout, beside this package there (the wheel does not ship `bench/`, and an
    # editable install maps only the product's packages).
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "bench" / "cli.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        benchmarks = importlib.import_module("bench.cli")
    except ModuleNotFoundError:
        fail("the benchmarks are not installed: run `nuanliu bench` from a source checkout")
        return
    benchmarks.run(name, quick=quick)


@app.command("check")
def check_command(
    grace_minutes: Annotated[
        float,
        typer.Option(
            "--grace", help="minutes an event or an offer SMS may be pending before it counts"
        ),
    ] = invariants.DEFAULT_GRACE.total_seconds() / 60,
) -> None:
    """Check the database's invariants: exit 0 when clean, else list every breach."""
    settings = load_settings()
    with friendly_errors():
        engine = make_engine(settings)
        try:
            with Session(engine) as session:
                found = invariants.check(
                    session=session,
                    grace=timedelta(minutes=grace_minutes),
                    hours_tolerance=settings.hours_tolerance,
                )
        finally:
            engine.dispose()
    if found:
        typer.echo(invariants.report(found))
        typer.echo(f"{len(found)} breach(es)")
        raise typer.Exit(1)
    typer.echo("clean: no breaches")


sms_app = typer.Typer(no_args_is_help=True, help="SMS templates for the providers")
app.add_typer(sms_app, name="sms")


@sms_app.command("templates")
def sms_templates(
    toml: Annotated[
        bool,
        typer.Option("--toml", help="print a complete NUANLIU_SMS_TEMPLATES file instead"),
    ] = False,
) -> None:
    """Every message kind Nuanliu sends, with its variables and length in characters and SMS
    parts (the signature 【暖流】 counts), ready to submit for approval."""
    if toml:
        typer.echo(sms_texts.toml_skeleton())
        return
    from rich.table import Table

    table = Table(title="SMS templates (length: characters/parts, signature included)")
    for column in ("kind", "variables", "Chinese text", "fixed", "example", "en fixed", "en ex."):
        table.add_column(column, overflow="fold")
    for row in sms_texts.listing():
        table.add_row(
            row["kind"],
            ", ".join(row["variables"]),
            row["zh_text"],
            "{}/{}".format(*row["zh_fixed"]),
            "{}/{}".format(*row["zh_example"]),
            "{}/{}".format(*row["en_fixed"]),
            "{}/{}".format(*row["en_example"]),
        )
    console.print(table)


simulate_app = typer.Typer(
    no_args_is_help=True, help="play the seed's scenarios against a running instance"
)
app.add_typer(simulate_app, name="simulate")
simulate_app.command("ice-storm")(dispatch_simulate.ice_storm)
simulate_app.command("travel-rush")(logistics_simulate.travel_rush)


def main() -> None:
    app()
