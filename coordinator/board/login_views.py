"""Logging in and out, changing one's password, and the admin's user page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coordinator.accounts import people
from coordinator.accounts import web as auth
from coordinator.accounts.service import ROLES, record_audit
from coordinator.accounts.views import UserRow
from coordinator.board.pages import PageRoute, page
from coordinator.deps import Admin, CurrentActor, SessionDep
from coordinator.logistics import service as logistics
from coordinator.logistics.service import Place

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MESSAGES = {
    "invalid": ("用户名或密码错误", status.HTTP_401_UNAUTHORIZED),
    "locked": ("尝试次数过多，账户已暂时锁定", status.HTTP_423_LOCKED),
    "rate_limited": ("尝试过于频繁，请稍后再试", status.HTTP_429_TOO_MANY_REQUESTS),
    "disabled": ("账户已停用", status.HTTP_403_FORBIDDEN),
}


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no `//`), so login is no open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: people.User) -> str:
    if user.must_change_password:
        return "/account/password"
    if user.role == "station_manager" and user.station_ids:
        return f"/stations/{user.station_ids[0]}"
    return "/board"


def _login_form(
    request: Request, *, error: str = "", username: str = "", next_url: str = "", code: int = 200
) -> HTMLResponse:
    token = auth.login_csrf(request)
    response = page(
        request,
        "login.html",
        {"login_csrf": token, "error": error, "username": username, "next": next_url},
        status_code=code,
    )
    auth.set_login_csrf_cookie(response, request, token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_form(request, next_url=_safe_next(next) or "")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    if not auth.tokens_match(request.cookies.get(auth.LOGIN_CSRF_COOKIE), csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
    try:
        logged_in = people.authenticate(
            session=session,
            username=username,
            password=password,
            address=auth.client_address(request),
        )
    except people.LoginRefused as refused:
        message, code = MESSAGES[refused.reason]
        return _login_form(request, error=message, username=username, next_url=next, code=code)
    user = logged_in.user
    record_audit(
        session=session, actor=user.username, action="user.login", subject=f"user:{user.id}"
    )
    session.commit()
    target = home_for(user) if user.must_change_password else _safe_next(next) or home_for(user)
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    auth.set_session_cookie(response, request, logged_in.cookie)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[auth.FormCsrf])
def logout(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    people.end_session(session=session, cookie=request.cookies.get(auth.SESSION_COOKIE, ""))
    session.commit()
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    auth.clear_session_cookie(response)
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, actor: CurrentActor) -> HTMLResponse:
    return page(request, "password.html", {"error": ""})


@router.post("/account/password", response_class=HTMLResponse, dependencies=[auth.FormCsrf])
def change_password(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    current: Annotated[str, Form(max_length=256)] = "",
    new: Annotated[str, Form(max_length=256)] = "",
    repeat: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    user = getattr(request.state, "user", None)
    if user is None:  # a bearer token has no password to change
        raise HTTPException(status.HTTP_403_FORBIDDEN, "log in with a password first")
    error = ""
    if not people.verify_password(current, user.password_hash):
        error = "当前密码不正确"
    elif new != repeat:
        error = "两次输入的新密码不一致"
    elif new == current:
        error = "新密码不能与旧密码相同"
    else:
        try:
            people.set_password(session=session, user=user, password=new)
        except ValueError as exc:
            error = str(exc)
    if error:
        session.rollback()
        return page(request, "password.html", {"error": error}, status_code=422)
    logged_in = people.open_session(session=session, user=user)
    record_audit(
        session=session, actor=actor, action="user.password_changed", subject=f"user:{user.id}"
    )
    session.commit()
    response = RedirectResponse(home_for(user), status.HTTP_303_SEE_OTHER)
    auth.set_session_cookie(response, request, logged_in.cookie)
    return response


# -- the admin's user page ---------------------------------------------------------------------
def _stations(session: SessionDep) -> list[Place]:
    return logistics.places_of_kind(session=session, kind="station")


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, actor: Admin) -> HTMLResponse:
    return page(
        request,
        "users.html",
        {
            "users": people.list_users(session=session),
            "stations": _stations(session),
            "roles": ROLES,
            "error": "",
            "created": None,
        },
    )


@router.post("/admin/users", response_class=HTMLResponse, dependencies=[auth.FormCsrf])
def create_user_form(
    request: Request,
    session: SessionDep,
    actor: Admin,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    station_id: Annotated[str, Form(max_length=12)] = "",
    display_name: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """Create a person with a one-time password, shown once on the page."""
    stations = {s.id for s in _stations(session)}
    station_ids = [int(station_id)] if station_id.isdigit() else []
    error = ""
    created = None
    if role == "station_manager" and not (station_ids and station_ids[0] in stations):
        error = "请选择站点"
    else:
        password = people.new_one_time_password()
        try:
            user = people.create_user(
                session=session,
                username=username,
                password=password,
                role=role,
                station_ids=station_ids,
                display_name=display_name,
                must_change_password=True,
            )
        except ValueError as exc:
            error = str(exc)
        else:
            record_audit(
                session=session,
                actor=actor,
                action="user.created",
                subject=f"user:{user.id}",
                detail={"username": user.username, "role": role, "station_ids": station_ids},
            )
            session.commit()
            created = {"username": user.username, "password": password}
    if error:
        session.rollback()
    return page(
        request,
        "users.html",
        {
            "users": people.list_users(session=session),
            "stations": _stations(session),
            "roles": ROLES,
            "error": error,
            "created": created,
        },
        status_code=422 if error else 200,
    )


@router.post("/admin/users/{user_id}/unlock", dependencies=[auth.FormCsrf])
def unlock_user(session: SessionDep, actor: Admin, user: UserRow) -> Response:
    people.unlock(session=session, user=user)
    record_audit(session=session, actor=actor, action="user.unlocked", subject=f"user:{user.id}")
    session.commit()
    return RedirectResponse("/admin/users", status.HTTP_303_SEE_OTHER)
