"""The database schema of the whole program: every table (the domains', the consumers'
book-keeping, the outbox) and the Alembic migrations that build them (`nuanliu/migrations`).

Importing this module fills `SQLModel.metadata` (Alembic and the tests rely on it). A new
domain with tables adds its models module here. It lives above the domains and the consumers
because it is the one place that needs all of them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from consumers import models as consumer_models
from coordinator.accounts import models as accounts_models
from coordinator.alerts import models as alerts_models
from coordinator.dispatch import models as dispatch_models
from coordinator.geo import models as geo_models
from coordinator.logistics import models as logistics_models
from coordinator.records import models as records_models
from coordinator.sms import models as sms_models
from coordinator.volunteers import models as volunteers_models
from events import outbox

__all__ = [
    "accounts_models",
    "alerts_models",
    "consumer_models",
    "dispatch_models",
    "geo_models",
    "logistics_models",
    "migrate",
    "outbox",
    "records_models",
    "sms_models",
    "volunteers_models",
]

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest Alembic revision (run at every start)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
