"""Alembic environment. Run programmatically by `nuanliu.schema.migrate`, which hands over an
open connection; SQLite gets batch mode so ALTERs work."""

from alembic import context
from sqlmodel import SQLModel

import nuanliu.schema  # noqa: F401  (fills the metadata)
from nuanliu.migrations.env_options import compare_options

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        **compare_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
