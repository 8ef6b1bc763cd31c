"""Every way the roster says no: one type per failure, each with its HTTP status and code (see
`coordinator.errors`). The modules that raise them name them as before
(`service.InvalidPhone`, `service.InvalidVolunteer`, `importer.ImportFileError`).

`VolunteersError` is the base a caller catches for "the roster refused this"; every type is
still a `ValueError`, as it always was (the importer and `dispatch.flows.replies` catch
`InvalidPhone`/`InvalidVolunteer` by name)."""

from __future__ import annotations

from coordinator.errors import DomainError


class VolunteersError(DomainError, ValueError):
    """A request the roster refuses (422 unless the type says otherwise)."""

    code = "volunteer_refused"


class VolunteerNotFound(VolunteersError):
    status = 404
    code = "volunteer_not_found"


class InvalidPhone(VolunteersError):
    """A phone number Nuanliu cannot text; the message says why, for a row-level error, and
    `zh` says the same in Chinese (the roster page shows the one its reader reads)."""

    code = "invalid_phone"

    def __init__(self, message: str, *, zh: str = "") -> None:
        super().__init__(message)
        self.zh = zh or message


class InvalidVolunteer(VolunteersError):
    """A volunteer record that cannot be stored; `column` names the field at fault, and the
    answer's `detail` is `{"column", "message", "zh"}`: the English message and the same in
    Chinese, for the roster page and the import's row list."""

    code = "invalid_volunteer"

    def __init__(self, column: str | None, message: str, *, zh: str = "") -> None:
        self.zh = zh or message
        super().__init__(message, detail={"column": column, "message": message, "zh": self.zh})
        self.column = column


class PhoneOnRoster(InvalidVolunteer):
    """A new volunteer with a number already on the roster."""

    status = 409
    code = "phone_on_roster"

    def __init__(self, volunteer_id: int | None) -> None:
        super().__init__(
            "phone",
            f"already on the roster (volunteer {volunteer_id})",
            zh=f"该手机号已在名册中（志愿者 {volunteer_id}）",
        )


class RosterConflict(VolunteersError):
    """A number added by someone else while this write was under way (the unique phone
    index); nothing was stored."""

    status = 409
    code = "roster_conflict"

    def __init__(self) -> None:
        super().__init__(
            "a phone number was added to the roster at the same time; nothing was stored, "
            "please retry"
        )


class InvalidFilter(VolunteersError):
    """A roster query naming an unknown district or a skill that is not one."""

    code = "invalid_roster_filter"


class ImportFileError(VolunteersError):
    """The file as a whole cannot be imported; the message says why, `zh` the same in
    Chinese (the answer carries both)."""

    code = "invalid_roster_file"

    def __init__(self, message: str, *, zh: str = "") -> None:
        super().__init__(message)
        self.zh = zh or message


class NotPending(VolunteersError):
    """An approve or decline of a volunteer who is not waiting for one (decided already, or
    never signed up)."""

    status = 409
    code = "volunteer_not_pending"


class AlreadyOptedOut(VolunteersError):
    """An opt-out for a volunteer who receives no task messages already."""

    status = 409
    code = "volunteer_opted_out_already"


class NotOptedOut(VolunteersError):
    """An opt-in for a volunteer who never opted out (or is back in already)."""

    status = 409
    code = "volunteer_not_opted_out"


# -- the public sign-up page (`volunteers.joining`) ----------------------------------------------
class JoinRefused(VolunteersError):
    """The sign-up page refuses a form: `message` in English as every refusal, `zh` the same in
    Chinese for the page, and `field` the form field at fault (None for the whole form)."""

    code = "join_refused"

    def __init__(self, message: str, *, zh: str, field: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh
        self.field = field

    @property
    def text(self) -> dict[str, str]:
        """Both wordings, for the page: `{"zh": …, "en": …}`."""
        return {"zh": self.zh, "en": self.message}


class JoinInvalid(JoinRefused):
    """A field of the form that cannot be used (no name, not a mobile number, no district…)."""

    code = "join_invalid"


class JoinRateLimited(JoinRefused):
    """Too many codes asked for, from this number or this address; nothing was stored."""

    status = 429
    code = "join_rate_limited"


class JoinCodeWrong(JoinRefused):
    """A code that is not the one texted (the try is counted), or none was asked for."""

    code = "join_code_wrong"


class JoinCodeExpired(JoinRefused):
    """The code is too old, or spent by too many wrong tries: a new one is needed."""

    status = 410
    code = "join_code_expired"


class AlreadyJoined(JoinRefused):
    """The number is known already (waiting for approval, a volunteer, or declined before):
    the page says only that, to the person who proved they hold the number."""

    status = 409
    code = "already_joined"
