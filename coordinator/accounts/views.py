"""Tokens: made by admins (or `nuanliu token create`), shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from sqlmodel import Session

from coordinator.accounts import people
from coordinator.accounts.errors import (
    SelfDemotion,
    StationsRequired,
    UnknownStation,
    UserNotFound,
)
from coordinator.accounts.models import (
    TokenCreate,
    TokenCreated,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from coordinator.accounts.service import create_token, record_audit
from coordinator.deps import Admin, SessionDep
from coordinator.logistics import service as logistics
from coordinator.lookup import fetch_or_404

router = APIRouter(prefix="/api", tags=["accounts"])


def _user(session: Session, user_id: int) -> User | None:
    return people.get_user(session=session, user_id=user_id)


#: the user in the path (`user_id`), or 404
UserRow = Annotated[
    User, fetch_or_404("user_id", _user, missing=lambda _id: UserNotFound("no such user"))
]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def post_token(body: TokenCreate, session: SessionDep, actor: Admin) -> TokenCreated:
    _check_stations(session, body.station_ids)
    token = create_token(
        session=session, role=body.role, station_ids=body.station_ids, label=body.label
    )
    record_audit(
        session=session,
        actor=actor,
        action="token.created",
        detail={"role": body.role, "station_ids": body.station_ids, "label": body.label},
    )
    session.commit()
    return TokenCreated(token=token, role=body.role, station_ids=body.station_ids)


# -- people (admin user management) ------------------------------------------------------------
def _check_stations(session: SessionDep, station_ids: list[int]) -> None:
    for station_id in station_ids:
        if not logistics.is_station(session=session, place_id=station_id):
            raise UnknownStation(f"no station {station_id}")


@router.get("/users", response_model=list[UserPublic])
def get_users(session: SessionDep, actor: Admin) -> list[User]:
    return people.list_users(session=session)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
def post_user(body: UserCreate, session: SessionDep, actor: Admin) -> User:
    _check_stations(session, body.station_ids)
    user = people.create_user(
        session=session,
        username=body.username,
        password=body.password,
        role=body.role,
        station_ids=body.station_ids,
        display_name=body.display_name,
        must_change_password=True,
    )
    record_audit(
        session=session,
        actor=actor,
        action="user.created",
        subject=f"user:{user.id}",
        detail={"username": user.username, "role": user.role, "station_ids": user.station_ids},
    )
    session.commit()
    return user


@router.patch("/users/{user_id}", response_model=UserPublic)
def patch_user(body: UserUpdate, session: SessionDep, actor: Admin, user: UserRow) -> User:
    role = body.role or user.role
    station_ids = body.station_ids if body.station_ids is not None else user.station_ids
    if role == "station_manager" and not station_ids:
        raise StationsRequired("a station_manager needs at least one station")
    _check_stations(session, station_ids)
    if user.username == actor.name and (body.disabled or (body.role and body.role != "admin")):
        raise SelfDemotion("admins cannot demote themselves")
    user.role = role
    user.station_ids = sorted(station_ids) if role == "station_manager" else []
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.disabled is not None:
        people.set_disabled(session=session, user=user, disabled=body.disabled)
    if body.password is not None:
        people.set_password(session=session, user=user, password=body.password, must_change=True)
    if body.unlock:
        people.unlock(session=session, user=user)
    session.add(user)
    record_audit(
        session=session,
        actor=actor,
        action="user.updated",
        subject=f"user:{user.id}",
        detail=body.model_dump(exclude={"password"}, exclude_none=True)
        | {"password_reset": body.password is not None},
    )
    session.commit()
    return user
