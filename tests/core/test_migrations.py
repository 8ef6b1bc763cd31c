"""The Alembic migrations build exactly the schema the models declare: a column added to a
model without `make migration` (or a migration edited by hand) fails here, on SQLite and on
PostgreSQL, instead of at a customer's first start."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, text
from sqlmodel import SQLModel

import nuanliu.schema  # noqa: F401  (fills the metadata)
from nuanliu.migrations.env_options import compare_options


def _differences(engine, metadata=SQLModel.metadata) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=compare_options(conn.dialect.name))
        return compare_metadata(context, metadata)


def test_the_migrated_schema_is_exactly_the_models(engine):
    assert _differences(engine) == []


def test_a_model_change_without_a_migration_is_caught(engine):
    """The check above can fail: a column the migrations do not create is reported."""
    table = SQLModel.metadata.tables["districts"]
    extra = Column("planted_without_migration", Integer, nullable=True)
    table.append_column(extra)
    try:
        diffs = _differences(engine)
    finally:
        table._columns.remove(extra)
    assert [d[0] for d in diffs] == ["add_column"]
    assert diffs[0][3].name == "planted_without_migration"


def test_a_hand_dropped_index_is_caught(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_outbox_unsettled"))
    diffs = _differences(engine)
    assert any(d[0] == "add_index" and d[1].name == "ix_outbox_unsettled" for d in diffs)
