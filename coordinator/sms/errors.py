"""Every way the SMS domain says no: one type per failure, each with its HTTP status and code
(see `coordinator.errors`). A phone number it cannot text is the roster's refusal
(`volunteers.errors.InvalidPhone`), answered the same way."""

from __future__ import annotations

from coordinator.errors import DomainError


class SmsError(DomainError, ValueError):
    """A request the SMS domain refuses (422 unless the type says otherwise); still a
    `ValueError`, as it always was."""

    code = "sms_refused"


class InvalidMessage(SmsError):
    """A message body Nuanliu will not store or send; the message says why."""

    code = "invalid_message"
