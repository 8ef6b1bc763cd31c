"""Ids in requests, and dependencies that fetch the row a path id names or answer 404.

Every id is a PostgreSQL `integer`: `PathId`, `QueryId` and `BodyId` accept 1 .. 2**31 - 1, so a
larger one is a 422, never a database error. :func:`fetch_or_404` makes a dependency of a
loader, Netflix Dispatch style::

    Shipment = Annotated[ShipmentRow, fetch_or_404("shipment_id", load_shipment, missing=...)]

    @router.get("/shipments/{shipment_id}")
    def shipment(found: Shipment, ...): ...

The route then never sees an id without its row. Declare the role (`Dispatcher`, ...) before
the row in a route's parameters: FastAPI resolves them in that order, so a caller without the
role is refused (401/403) before anyone learns whether the row exists.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query
from pydantic import Field
from sqlmodel import Session

from coordinator.accounts.service import Actor
from coordinator.deps import CurrentActor, SessionDep
from coordinator.errors import DomainError

T = TypeVar("T")

#: the largest id a PostgreSQL `integer` column holds
MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]


def fetch_or_404(
    param: str,
    load: Callable[[Session, int], T | None],
    *,
    missing: Callable[[int], DomainError] | None = None,
    guard: Callable[[Actor, int], None] | None = None,
) -> Any:
    """A `Depends` giving the row `load(session, id)` finds for the path parameter `param`.

    `load` returns None for no row, and then `missing(id)` is raised (a 404 type); a loader that
    raises its own not-found error needs no `missing`. `guard(actor, id)`, when given, runs
    first and may refuse (`deps.ensure_station`): a manager asking for another station's row
    hears "not your station" whether or not the row exists.
    """

    def fetch(**values: Any) -> T:
        row_id: int = values[param]
        if guard is not None:
            guard(values["actor"], row_id)
        row = load(values["session"], row_id)
        if row is None:
            if missing is None:
                raise LookupError(f"{load!r} found no row for {param}={row_id}")
            raise missing(row_id)
        return row

    parameters = [
        inspect.Parameter("session", inspect.Parameter.KEYWORD_ONLY, annotation=SessionDep),
        inspect.Parameter(param, inspect.Parameter.KEYWORD_ONLY, annotation=PathId),
    ]
    if guard is not None:
        parameters.insert(
            0, inspect.Parameter("actor", inspect.Parameter.KEYWORD_ONLY, annotation=CurrentActor)
        )
    # FastAPI reads a dependency's parameters from its signature: the path parameter is named
    # `param`, so the route's path and /openapi.json say `shipment_id`, not a generic name
    fetch.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    fetch.__name__ = f"fetch_{param}"
    return Depends(fetch)
