"""Every way accounts (tokens, users, passwords) says no: one type per failure, each with its HTTP
status and code (see `coordinator.errors`). They are still `ValueError`s, as the service raised
before, so the board's forms and `nuanliu token create` keep showing the message."""

from __future__ import annotations

from coordinator.errors import DomainError


class AccountsError(DomainError, ValueError):
    """A token, user or password accounts refuses (422 unless the type says otherwise).

    `message` is English, as every API answer is; `zh` is the same in Chinese for the pages,
    which show the one the person reads (see `text`)."""

    code = "accounts_refused"

    def __init__(self, message: str, *, zh: str = "") -> None:
        super().__init__(message)
        self.zh = zh or message

    @property
    def text(self) -> dict[str, str]:
        """Both wordings, for a page: `{"zh": …, "en": …}` (the English as a sentence there)."""
        return {"zh": self.zh, "en": self.message[:1].upper() + self.message[1:]}


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


class BadUsername(AccountsError):
    """A username outside `accounts.rules` (length, or a character it does not allow)."""

    code = "bad_username"


class WeakPassword(AccountsError):
    """A password too short, or the username again."""

    code = "weak_password"


class GuessablePassword(WeakPassword):
    """A password zxcvbn scores below `rules.MIN_PASSWORD_SCORE` (common, a name, a year…)."""

    code = "guessable_password"


class SelfDemotion(AccountsError):
    """An admin disabling themselves or giving up the admin role."""

    code = "self_demotion"


class UserDisabled(AccountsError):
    """A password reset for a disabled user: enable them first, so nobody holds a password
    for an account they cannot use."""

    code = "user_disabled"


class UserNotFound(AccountsError):
    status = 404
    code = "user_not_found"
