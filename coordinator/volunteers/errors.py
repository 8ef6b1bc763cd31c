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
