"""What the service records and certificates refuse, each a `DomainError`."""

from __future__ import annotations

from coordinator.errors import DomainError


class VolunteerNotFound(DomainError):
    status = 404
    code = "records_volunteer_not_found"


class NothingServed(DomainError):
    """No hours in the period: a certificate of nothing is not issued."""

    status = 409
    code = "no_service_in_period"


class BadPeriod(DomainError):
    """A period that is empty, reversed, too long or outside the years the ledger holds."""

    status = 422
    code = "bad_period"
