"""Alembic environment. Run programmatically by `nuanliu.schema.migrate`, which hands over an
open connection; SQLite gets batch mode so ALTERs work."""

from alembic import context
from sqlmodel import SQLModel

import nuanliu.schema  # noqa: F401  (fills the metadata)
from coordinator.common import UtcDateTime

config = context.config
target_metadata = SQLModel.metadata


def _ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # APScheduler creates and owns its job table; Alembic must not drop it.
    return not (type_ == "table" and name == "scheduler_jobs")


def _render(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    # UtcDateTime only converts in Python; in the schema it is a plain timestamp with zone
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_ours,
        render_item=_render,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
