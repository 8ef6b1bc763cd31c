"""FastAPI dependencies as `Annotated` aliases. Every /api route names the roles it admits
through :func:`require`; station-scoped routes also call :func:`ensure_station`.

What a route needs of its process it reads here, from `app.state` as `nuanliu.app` sets it:
`services` (:class:`~coordinator.process.Services`), `authenticators`, `token_cache`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.accounts.service import Actor, TokenCache, actor_for_token
from coordinator.config import Settings
from coordinator.db import POOL_OVERFLOW, POOL_SIZE
from coordinator.geo.outlines import Outlines
from coordinator.process import Services

#: a way besides a bearer token to say who is calling (the board's session cookie); the app
#: lists them in `app.state.authenticators`
Authenticator = Callable[[Request, Session], Actor | None]


# Dependencies that never block are `async def`: FastAPI runs a plain `def` dependency in a
# worker thread, and a thread hop per dependency per request was a tenth of an API process's
# time under load.
async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def get_engine(request: Request) -> Engine:
    return (await get_services(request)).engine


async def get_app_settings(request: Request) -> Settings:
    return (await get_services(request)).settings


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


#: Requests holding a session at once, per process: the pool less what the process needs
#: besides routes (token look-ups, the SMS intake, board snapshots and feed, and, when
#: `nuanliu run` hosts everything in one process, the workers).
ROUTE_SESSIONS = POOL_SIZE + POOL_OVERFLOW - 15

#: A request waits for a session on the event loop, not in a worker thread, and gives it back
#: once its answer is built, before it is sent (`scope="function"`). Without the limit,
#: a burst of station writes stopped the API: FastAPI validates the answer of a plain `def`
#: route in a worker thread, so forty finished requests held every connection waiting for a
#: thread while all forty threads waited for a connection, until the pool timeout, again and
#: again (measured with `nuanliu bench load`, mixed workload, 200 requests/s).
SessionDep = Annotated[
    Session, Depends(get_session, scope="function", max_concurrency=ROUTE_SESSIONS)
]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_outlines(request: Request) -> Outlines:
    """The district outlines the app loaded at start."""
    return request.app.state.outlines  # type: ignore[no-any-return]


OutlinesDep = Annotated[Outlines, Depends(get_outlines)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ServicesDep = Annotated[Services, Depends(get_services)]


async def current_actor(request: Request, engine: EngineDep) -> Actor:
    """Who is calling. A bearer token seen in the last few seconds is answered from the app's
    `TokenCache` without leaving the event loop; anything else is looked up in a worker
    thread, in a short transaction of its own, so that on SQLite the request's own session
    does not hold the write lock from authentication on."""
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    token = _bearer(request)
    actor = cache.get(token) if cache is not None and token else None
    if actor is None:
        actor = await run_in_threadpool(_look_up, request, engine, token)
        if cache is not None and token:
            cache.put(token, actor)
    request.state.actor = actor
    return actor


def _look_up(request: Request, engine: Engine, token: str | None) -> Actor:
    with Session(engine, expire_on_commit=False) as session:
        actor = _authenticate(request, session, token)
        session.commit()
    return actor


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _authenticate(request: Request, session: Session, token: str | None) -> Actor:
    actor: Actor | None = None
    if token:
        actor = actor_for_token(session=session, token=token)
        if actor is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid or revoked token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    else:
        # the app's other ways to authenticate, so that pages and the API check roles
        # through the same dependency
        authenticators: Sequence[Authenticator] = request.app.state.authenticators
        for authenticate in authenticators:
            actor = authenticate(request, session)
            if actor is not None:
                break
    if actor is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


def require(*roles: str) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency admitting only `roles` (admin is always admitted)."""
    allowed = set(roles) | {"admin"}

    async def check(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(sorted(allowed))}"
            )
        return actor

    return check


def ensure_station(actor: Actor, station_id: int) -> None:
    """403 unless `actor` may act for `station_id`."""
    if not actor.may_manage(station_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not your station")


CurrentActor = Annotated[Actor, Depends(current_actor)]
Dispatcher = Annotated[Actor, Depends(require("dispatcher"))]
Admin = Annotated[Actor, Depends(require("admin"))]
StationStaff = Annotated[Actor, Depends(require("dispatcher", "station_manager"))]
