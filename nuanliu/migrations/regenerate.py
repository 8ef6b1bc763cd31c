"""Regenerate the initial migration from the models.

Before the first release there is one migration, `0001_initial`, and it is rebuilt from the
models whenever a table changes (`make migration`). After the first release, new migrations
are added with `alembic revision --autogenerate` on top of it instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

HERE = Path(__file__).parent


def main() -> None:
    for old in (HERE / "versions").glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/empty.db")
        cfg = Config()
        cfg.set_main_option("script_location", str(HERE))
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.revision(
                cfg, message="initial schema", autogenerate=True, rev_id="0001_initial"
            )
    print("wrote", next((HERE / "versions").glob("*.py")))


if __name__ == "__main__":
    main()
