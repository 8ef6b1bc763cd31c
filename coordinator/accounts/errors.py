"""Every way accounts (tokens, users, passwords) says no: one type per failure, each with its HTTP
status and code (see `coordinator.errors`). They are still `ValueError`s, as the service raised
before, so the board's forms and `nuanliu token create` keep showing the message."""

from __future__ import annotations

from coordinator.errors import DomainError


class AccountsError(DomainError, ValueError):
    """A token, user or password accounts refuses (422 unless the type says otherwise)."""

    code = "accounts_refused"


class UnknownRole(AccountsError):
    code = "unknown_role"


class StationsRequired(AccountsError):
    """A station manager (user or token) without a station."""

    code = "stations_required"


class UnknownStation(AccountsError):
    """A station id that names no station."""

    code = "unknown_station"


class UsernameTaken(AccountsError):
    code = "username_taken"


class WeakPassword(AccountsError):
    """A password too short, or the username again."""

    code = "weak_password"


class SelfDemotion(AccountsError):
    """An admin disabling themselves or giving up the admin role."""

    code = "self_demotion"


class UserNotFound(AccountsError):
    status = 404
    code = "user_not_found"
