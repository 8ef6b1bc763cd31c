"""What the logistics routes share: the id and quantity types of their bodies, the station
manager's role, and `write` (run a flow, commit, turn a refusal into its HTTP answer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi import Path as FPath
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.deps import require
from coordinator.logistics import errors, ledger

#: receipts and hand-outs are the station manager's (admins may act for anyone)
StationManager = Annotated[Actor, Depends(require("station_manager"))]

Quantity = Annotated[int, Field(gt=0, le=ledger.MAX_MOVEMENT)]
Count = Annotated[int, Field(ge=0, le=ledger.MAX_MOVEMENT)]
Sku = Annotated[str, Field(min_length=1, max_length=32)]
Note = Annotated[str, Field(max_length=500)]

T = TypeVar("T")

#: ids are PostgreSQL `integer`s: anything larger is a 422, never a database error
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, FPath(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def write(session: Session, action: Callable[[], T]) -> T:
    """Run `action` and commit; roll back whatever it did if it raises (a refusal is answered
    by the app's handler)."""
    try:
        result = action()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def flag_overdraft(request: Request, actor: Actor, exc: errors.FundExhausted, what: str) -> None:
    """A refused overdraft is flagged in the audit log even though its request rolled back."""
    with Session(engine_of(request)) as s:
        record_audit(
            session=s,
            actor=actor,
            action="fund.overdraw_refused",
            subject=what,
            detail={"reason": str(exc)},
        )
        s.commit()
