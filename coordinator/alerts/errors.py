"""Every way alerts says no: one type per failure, each with its HTTP status and code (see
`coordinator.errors`). The modules that raise them name them as before (`cap.CapError`,
`flows.AlertRejected`, `flows.KeyReused`, `service.UnknownDistricts`).

`AlertsError` is the base a caller catches for "alerts refused this"; every type is still a
`ValueError`, as it always was. `AlertRejected` is the narrower "this alert cannot be acted
on": `flows.ingest_cap` skips one CAP alert of several on it, with the reason."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.errors import DomainError

#: the longest `detail` a CAP post answers with (a wrapper of many skipped alerts, or a parse
#: error quoting the body, must not make the answer as long as the body)
CAP_DETAIL_LIMIT = 2000


class AlertsError(DomainError, ValueError):
    """A request alerts refuses (422 unless the type says otherwise)."""

    code = "alert_refused"


class CapError(AlertsError):
    """Not a CAP alert Nuanliu can take; the message is the one-line reason."""

    code = "invalid_cap"

    def __init__(self, message: str) -> None:
        super().__init__(message, detail=message[:CAP_DETAIL_LIMIT])


class UnknownDistricts(AlertsError):
    """Some names or codes are not districts we know; `names` lists them."""

    code = "unknown_district"

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(
            "unknown district" + ("s" if len(names) > 1 else "") + ": " + ", ".join(names)
        )
        self.names = list(names)


class InvalidPeriod(AlertsError):
    """An alert whose `ends_at` is not after its `starts_at`."""

    code = "invalid_alert_period"


class AlertRejected(AlertsError):
    """An alert that cannot be acted on; the message is the reason."""

    code = "alert_rejected"


class UnknownReference(AlertRejected):
    """A Cancel that references no alert we know."""

    code = "unknown_referenced_alert"


class OutsideDistricts(AlertRejected):
    """An alert whose area touches none of our districts."""

    code = "outside_our_districts"


class KeyReused(AlertRejected):
    """An Idempotency-Key sent again with a different alert."""

    code = "idempotency_key_reused"


class NothingTaken(AlertRejected):
    """A CAP post of which no alert was taken; the message lists why each was skipped."""

    code = "no_alert_taken"

    def __init__(self, message: str) -> None:
        super().__init__(message, detail=message[:CAP_DETAIL_LIMIT])
