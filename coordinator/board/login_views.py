"""Logging in and out, changing one's password, and the admin's user page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coordinator.accounts import flows as accounts_flows
from coordinator.accounts import people, rules
from coordinator.accounts import web as auth
from coordinator.accounts.errors import AccountsError
from coordinator.accounts.service import ROLES, record_audit
from coordinator.accounts.views import UserRow
from coordinator.board.pages import PageRoute, page
from coordinator.deps import Admin, CurrentActor, SessionDep
from coordinator.logistics import service as logistics
from coordinator.logistics.service import Place

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: a message for a page in both languages: the page shows `zh`, or `en` in English mode
Text = dict[str, str]


def text(zh: str, en: str) -> Text:
    return {"zh": zh, "en": en}


MESSAGES: dict[str, tuple[Text, int]] = {
    "invalid": (
        text("用户名或密码错误", "Wrong username or password"),
        status.HTTP_401_UNAUTHORIZED,
    ),
    "locked": (
        text(
            "尝试次数过多，账户已暂时锁定",
            "Too many attempts: the account is locked for a while",
        ),
        status.HTTP_423_LOCKED,
    ),
    "rate_limited": (
        text("尝试过于频繁，请稍后再试", "Too many attempts: try again later"),
        status.HTTP_429_TOO_MANY_REQUESTS,
    ),
    "disabled": (text("账户已停用", "This account is disabled"), status.HTTP_403_FORBIDDEN),
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
    request: Request,
    *,
    error: Text | None = None,
    username: str = "",
    next_url: str = "",
    code: int = 200,
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
    return page(request, "password.html", {"error": None, "min_length": rules.MIN_PASSWORD_LENGTH})


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
    error: Text | None = None
    if not people.verify_password(current, user.password_hash):
        error = text("当前密码不正确", "The current password is wrong")
    elif new != repeat:
        error = text("两次输入的新密码不一致", "The two new passwords differ")
    elif new == current:
        error = text("新密码不能与旧密码相同", "The new password must differ from the old one")
    else:
        try:
            people.set_password(session=session, user=user, password=new)
        except AccountsError as exc:
            error = exc.text
    if error:
        session.rollback()
        return page(
            request,
            "password.html",
            {"error": error, "min_length": rules.MIN_PASSWORD_LENGTH},
            status_code=422,
        )
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


def _users_page(
    request: Request,
    session: SessionDep,
    *,
    error: Text | None = None,
    created: dict[str, str] | None = None,
    reset: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    stations = _stations(session)
    return page(
        request,
        "users.html",
        {
            "users": people.list_users(session=session),
            "stations": stations,
            "station_names": {st.id: st.name_zh for st in stations},
            "roles": ROLES,
            "username_pattern": rules.USERNAME_PATTERN,
            "username_max": rules.USERNAME_MAX,
            "error": error,
            "created": created,
            "reset": reset,
        },
        status_code=code,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, actor: Admin) -> HTMLResponse:
    return _users_page(request, session)


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
    """Create a person with a one-time password, shown once on the page. The rules (username,
    a chosen role, a station for a station manager) are `people.create_user`'s."""
    stations = {s.id for s in _stations(session)}
    station_ids = [int(station_id)] if station_id.isdigit() else []
    if station_ids and station_ids[0] not in stations:
        return _users_page(
            request, session, error=text("没有这个站点", "No such station"), code=422
        )
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
    except AccountsError as exc:
        session.rollback()
        return _users_page(request, session, error=exc.text, code=422)
    record_audit(
        session=session,
        actor=actor,
        action="user.created",
        subject=f"user:{user.id}",
        detail={"username": user.username, "role": user.role, "station_ids": user.station_ids},
    )
    session.commit()
    created = {"username": user.username, "password": password}
    return _users_page(request, session, created=created)


@router.post("/admin/users/{user_id}/unlock", dependencies=[auth.FormCsrf])
def unlock_user(session: SessionDep, actor: Admin, user: UserRow) -> Response:
    people.unlock(session=session, user=user)
    record_audit(session=session, actor=actor, action="user.unlocked", subject=f"user:{user.id}")
    session.commit()
    return RedirectResponse("/admin/users", status.HTTP_303_SEE_OTHER)


@router.post("/admin/users/{user_id}/disable", response_model=None, dependencies=[auth.FormCsrf])
def disable_user(request: Request, session: SessionDep, actor: Admin, user: UserRow) -> Response:
    try:
        accounts_flows.disable_user(session=session, actor=actor, user=user)
    except AccountsError as exc:
        session.rollback()
        return _users_page(request, session, error=exc.text, code=422)
    session.commit()
    return RedirectResponse("/admin/users", status.HTTP_303_SEE_OTHER)


@router.post("/admin/users/{user_id}/enable", dependencies=[auth.FormCsrf])
def enable_user(session: SessionDep, actor: Admin, user: UserRow) -> Response:
    accounts_flows.enable_user(session=session, actor=actor, user=user)
    session.commit()
    return RedirectResponse("/admin/users", status.HTTP_303_SEE_OTHER)


@router.post(
    "/admin/users/{user_id}/reset-password",
    response_class=HTMLResponse,
    dependencies=[auth.FormCsrf],
)
def reset_password(
    request: Request, session: SessionDep, actor: Admin, user: UserRow
) -> HTMLResponse:
    """A new one-time password, shown once on the page that answers (never again)."""
    try:
        password = accounts_flows.reset_password(session=session, actor=actor, user=user)
    except AccountsError as exc:
        session.rollback()
        return _users_page(request, session, error=exc.text, code=422)
    session.commit()
    return _users_page(request, session, reset={"username": user.username, "password": password})
