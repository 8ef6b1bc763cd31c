"""Tokens: made by admins (or `nuanliu token create`), shown once."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from coordinator.accounts import people
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
from coordinator.logistics.models import Place

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def post_token(body: TokenCreate, session: SessionDep, actor: Admin) -> TokenCreated:
    for station_id in body.station_ids:
        place = session.get(Place, station_id)
        if place is None or place.kind != "station":
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no station {station_id}")
    try:
        token = create_token(
            session=session, role=body.role, station_ids=body.station_ids, label=body.label
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
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
        place = session.get(Place, station_id)
        if place is None or place.kind != "station":
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no station {station_id}")


@router.get("/users", response_model=list[UserPublic])
def get_users(session: SessionDep, actor: Admin) -> list[User]:
    return people.list_users(session=session)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
def post_user(body: UserCreate, session: SessionDep, actor: Admin) -> User:
    _check_stations(session, body.station_ids)
    try:
        user = people.create_user(
            session=session,
            username=body.username,
            password=body.password,
            role=body.role,
            station_ids=body.station_ids,
            display_name=body.display_name,
            must_change_password=True,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
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
def patch_user(user_id: int, body: UserUpdate, session: SessionDep, actor: Admin) -> User:
    user = people.get_user(session=session, user_id=user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    role = body.role or user.role
    station_ids = body.station_ids if body.station_ids is not None else user.station_ids
    if role == "station_manager" and not station_ids:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "a station_manager needs at least one station"
        )
    _check_stations(session, station_ids)
    if user.username == actor.name and (body.disabled or (body.role and body.role != "admin")):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "admins cannot demote themselves"
        )
    user.role = role
    user.station_ids = sorted(station_ids) if role == "station_manager" else []
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.disabled is not None:
        user.disabled = body.disabled
        if body.disabled:
            people.revoke_sessions(session=session, user_id=user_id)
    if body.password is not None:
        try:
            people.set_password(
                session=session, user=user, password=body.password, must_change=True
            )
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
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
