"""A scratch database per benchmark run, so runs start alike and leave nothing behind: on a
PostgreSQL server a database of its own (created, then dropped), else a SQLite file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

console = Console()


def scratch_database(base: str | None) -> tuple[str, str | None]:
    """A fresh database URL on the server of `base` (a SQLite file when `base` is None or not
    PostgreSQL, or the server cannot be reached), and the admin URL to drop it with (None for
    SQLite)."""
    if base and make_url(base).get_backend_name() == "postgresql":
        url = make_url(base)
        admin_url = url.set(drivername="postgresql+psycopg")
        name = f"nuanliu_bench_{os.getpid()}"
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            return url.set(database=name).render_as_string(hide_password=False), str(
                admin_url.render_as_string(hide_password=False)
            )
        except Exception as exc:  # no PostgreSQL here: say so and use SQLite
            console.print(f"[yellow]PostgreSQL unavailable ({type(exc).__name__}); using SQLite")
    path = Path(tempfile.mkdtemp()) / "bench.db"
    return f"sqlite:///{path}", None


def drop_scratch(url: str, admin_url: str | None) -> None:
    """Drop a database made by `scratch_database` (nothing to do for SQLite)."""
    if admin_url is None:
        return
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
