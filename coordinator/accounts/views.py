"""Tokens: made by admins (or `nuanliu token create`), shown once."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from coordinator.accounts.models import TokenCreate, TokenCreated
from coordinator.accounts.service import create_token, record_audit
from coordinator.deps import Admin, SessionDep
from coordinator.logistics.models import Place

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def post_token(body: TokenCreate, session: SessionDep, actor: Admin) -> TokenCreated:
    for station_id in body.station_ids:
        place = session.get(Place, station_id)
        if place is None or place.kind != "station":
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"no station {station_id}")
    try:
        token = create_token(
            session=session, role=body.role, station_ids=body.station_ids, label=body.label
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    record_audit(
        session=session,
        actor=actor,
        action="token.created",
        detail={"role": body.role, "station_ids": body.station_ids, "label": body.label},
    )
    session.commit()
    return TokenCreated(token=token, role=body.role, station_ids=body.station_ids)
