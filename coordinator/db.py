"""Engine and sessions. SQLite in a file by default, PostgreSQL when DATABASE_URL says so.

The schema belongs to Alembic: `nuanliu.schema.migrate` brings a database to head and is run
at every start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from coordinator.config import Settings

#: Execution option for transactions that only read: on SQLite they begin DEFERRED and do not
#: queue behind writers (WAL lets readers run beside one writer).
READ_ONLY = "nuanliu_read_only"


def read_only(engine: Engine) -> Engine:
    """The same engine, for transactions that never write."""
    return engine.execution_options(**{READ_ONLY: True})


#: connections an engine keeps, and how many more it opens under load (`deps.SessionDep` lets
#: routes hold all but a few of them, so the rest is there for everything else)
POOL_SIZE, POOL_OVERFLOW = 20, 20


def make_engine(settings: Settings) -> Engine:
    """Create the engine for `settings.database_url`. Its errors never carry the bound
    parameters (`hide_parameters`): those are phone numbers and texts, and an error's message
    ends up in a log line.

    SQLite gets WAL, a busy timeout and foreign keys, so API threads, consumer threads and the
    relay can share one file; its parent folder is created if missing.
    """
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=settings.db_pool_timeout_s,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so a
        # read-then-write transaction takes the write lock up front (BEGIN IMMEDIATE)
        # and two writers cannot both read a stale balance.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):  # type: ignore[no-untyped-def]
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    # A request that cannot have a connection within the pool timeout is answered 503 (see
    # main._busy) rather than waiting SQLAlchemy's default 30 s: under more load than the
    # database can take, the API sheds what it cannot serve instead of stalling everyone.
    return create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        hide_parameters=True,
    )


#: from this many new rows of one table in a flush, their ids come from the sequence first
RESERVE_IDS_FROM = 8
_SEQUENCES: dict[str, str] = {}


@event.listens_for(Session, "before_flush")
def _reserve_ids(session: Session, _context: Any, _instances: Any) -> None:
    """On PostgreSQL, when a flush inserts many rows of one table, give them their ids from the
    table's sequence in one query first. The ORM then inserts them with a plain executemany,
    which psycopg pipelines, instead of one INSERT … RETURNING with thousands of placeholders
    that psycopg parses in Python (too long for its cache): that parse was a third of the SMS
    intake's and the dispatch worker's time. Ids follow the order the rows were added in, as
    the ORM's own insert would give them (the outbox publishes in id order)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    pending: dict[Table, tuple[str, list[Any]]] = {}
    for obj in session.new:
        mapper = inspect(obj).mapper
        column = getattr(mapper.local_table, "autoincrement_column", None)
        if column is None:
            continue
        attribute = mapper.get_property_by_column(column).key
        if getattr(obj, attribute, None) is None:
            pending.setdefault(mapper.local_table, (attribute, []))[1].append(obj)
    for table, (attribute, objs) in pending.items():
        if len(objs) < RESERVE_IDS_FROM:
            continue
        sequence = _sequence(session, table)
        if not sequence:
            continue
        ids = sorted(
            session.execute(
                text("SELECT nextval(:s) FROM generate_series(1, :n)"),
                {"s": sequence, "n": len(objs)},
            ).scalars()
        )
        objs.sort(key=lambda obj: inspect(obj).insert_order)
        for obj, id_ in zip(objs, ids, strict=True):
            setattr(obj, attribute, id_)


def _sequence(session: Session, table: Table) -> str:
    """The sequence behind `table`'s id ("" when there is none)."""
    if table.name not in _SEQUENCES:
        column = table.autoincrement_column
        assert column is not None
        found = session.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
        ).scalar_one()
        _SEQUENCES[table.name] = found or ""
    return _SEQUENCES[table.name]


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query. Read-only: on SQLite a plain
    transaction begins IMMEDIATE and would wait for the write lock, so /healthz stalled for
    as long as any writer (a 20,000-row roster import: 5 s) held it."""
    with read_only(engine).connect() as conn:
        conn.exec_driver_sql("SELECT 1")
