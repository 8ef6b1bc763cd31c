"""One error type per domain failure, and one way to answer it.

A flow, a service or a route that refuses a request raises a subclass of :class:`DomainError`.
The class says the HTTP `status` and a stable, machine-readable `code` (snake_case, unique in
the product: clients may switch on it while the wording of the message changes); the instance
carries the message for a person. The app's one handler, :func:`answer` (registered in
`nuanliu.app.create_app`), turns any of them into::

    {"detail": <message>, "code": <code>}

with the class's status: the `detail` every answer had before, and the code beside it. A
failure with row-level errors (a forecast upload) passes an object as `detail` instead, as
before.

Messages are English sentences that name what was refused and why ("not enough Instant
noodles (FOOD-NOODLE) at Jinyang bus station: 30 piece in stock, 31 requested"): the API has
no language setting (no route reads Accept-Language) and has always answered in English. Chinese
readers get Chinese where their texts are composed: SMS templates per volunteer language,
receipt texts (`logistics.sms_receipts`), the station page.

HTTP-level refusals that are not a domain's (no or a bad token, a wrong CSRF token or webhook
signature, a body too large, shutting down) stay FastAPI's `HTTPException`: the board's page
routes turn those into a login redirect or an HTML page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

#: code → class, filled as subclasses are defined (a code used twice is a TypeError at import)
CODES: dict[str, type[DomainError]] = {}


class DomainError(Exception):
    """A request a domain refuses. Subclasses set `status` (default 422) and their own `code`."""

    status: int = 422
    code: str = "refused"

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        #: what the answer's `detail` holds: the message, or an object with row-level errors
        self.detail: Any = message if detail is None else detail

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not isinstance(code, str) or not code:
            raise TypeError(f"{cls.__name__} needs a code of its own")
        if code in CODES:
            raise TypeError(f"{cls.__name__}: code {code!r} is {CODES[code].__name__}'s already")
        CODES[code] = cls


async def answer(request: Request, exc: Exception) -> JSONResponse:
    """The app's handler for every :class:`DomainError` (async: no worker thread for it). A
    refusal that has its words in Chinese too (an `zh` attribute: accounts, the roster's
    phone and file refusals) carries them as `zh` beside the English `detail`, for the
    pages, which show the one their reader reads."""
    assert isinstance(exc, DomainError)
    body: dict[str, Any] = {"detail": exc.detail, "code": exc.code}
    zh = getattr(exc, "zh", "")
    if isinstance(zh, str) and zh and zh != exc.message:
        body["zh"] = zh
    return JSONResponse(body, status_code=exc.status)
