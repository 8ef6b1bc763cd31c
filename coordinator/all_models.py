"""Imports every table so `SQLModel.metadata` is complete (Alembic and tests rely on it).
A new domain with tables adds its models module here."""

from consumers import models as consumer_models
from coordinator.accounts import models as accounts_models
from coordinator.alerts import models as alerts_models
from coordinator.dispatch import models as dispatch_models
from coordinator.geo import models as geo_models
from coordinator.logistics import models as logistics_models
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
    "outbox",
    "sms_models",
    "volunteers_models",
]
