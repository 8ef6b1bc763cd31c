"""Every refusal of logistics."""

from __future__ import annotations


class LogisticsError(ValueError):
    """A request logistics refuses; `status` is the HTTP status a view answers with."""

    status = 422


class NotFound(LogisticsError):
    status = 404


class Forbidden(LogisticsError):
    status = 403


class Conflict(LogisticsError):
    status = 409


class FundExhausted(LogisticsError):
    """A charge would overdraw the campaign fund."""
