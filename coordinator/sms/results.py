"""What a gateway answers for one text, and the gateway's shape (the sender's side of it).

A gateway's `send` never raises for a provider's refusal: it answers a `SendResult` whose
status is "sent" (handed over), "failed" (refused for good: a bad number, a template not
approved, no balance; `code` is the provider's), "retry" (refused for now, before anything went
out: throttled, a transient error, the provider unreachable; the sender may try again after
`retry_after` or its own backoff) or "unknown" (it may or may not have gone out: a timeout
after the request was sent; never tried again). Only a delivery report may say "delivered".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

Outcome = Literal["sent", "failed", "retry", "unknown"]


@dataclass(frozen=True)
class SendResult:
    """What the provider said: its message id, the outcome, why (without secrets) and the
    provider's own code for it."""

    provider_sid: str | None
    status: str
    error: str | None = None
    code: str | None = None
    #: seconds the provider asked us to wait before trying again
    retry_after: float | None = None


class Gateway(Protocol):
    name: str

    def send(
        self,
        to: str,
        body: str,
        *,
        template_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> SendResult:
        """Hand one message to the provider. `template_id`/`params` are for providers that
        send only pre-approved templates; `body` is the rendered text and the fallback."""
        ...


def never_left(exc: BaseException) -> bool:
    """Whether a transport error happened before the request could reach the provider (no
    connection was made), so that trying again cannot send a text twice. A timeout or a
    connection dropped after the request was written is not: the provider may have taken it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.ConnectTimeout):
            return True
        if isinstance(current, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError):
            return True
        if isinstance(current, requests.exceptions.ConnectionError):
            reason = getattr(current.args[0], "reason", None) if current.args else None
            if isinstance(reason, NewConnectionError | ConnectTimeoutError):
                return True
        inner = getattr(current, "inner_exception", None)
        current = inner or current.__cause__ or current.__context__
    return False


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced (an SDK's message may quote what it signed)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
