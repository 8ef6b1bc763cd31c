"""Alembic environment. Run programmatically by `coordinator.db.migrate`, which hands over an
open connection; SQLite gets batch mode so ALTERs work."""

from alembic import context
from sqlmodel import SQLModel

import coordinator.all_models  # noqa: F401  (fills the metadata)

config = context.config
target_metadata = SQLModel.metadata


def _ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # APScheduler creates and owns its job table; Alembic must not drop it.
    return not (type_ == "table" and name == "scheduler_jobs")


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
