"""Login sessions over HTTP: the session cookie, the CSRF check and the authenticator that
`coordinator.deps.current_actor` consults (the app lists it in `app.state.authenticators`), so
a page and an API route check a person's role and station through the same `require(...)` /
`ensure_station` as a bearer token.

CSRF: every state-changing request authenticated by the session cookie must carry the
session's CSRF token, either in the `X-CSRF-Token` header (scripts calling the JSON API) or
in a `csrf_token` form field (HTML forms; routes with forms declare :data:`FormCsrf`). The login
form itself, before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Depends, HTTPException, Request, Response, status
from sqlmodel import Session

from coordinator.accounts import people
from coordinator.accounts.service import Actor

SESSION_COOKIE = "nuanliu_session"
LOGIN_CSRF_COOKIE = "nuanliu_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: where a person whose password must change may still go
PASSWORD_PATHS = ("/account/password", "/logout")


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def session_authenticator(request: Request, session: Session) -> Actor | None:
    """The actor of a valid session cookie, or None when there is none. Raises 403 for a
    state-changing request without the session's CSRF token."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = people.session_for_cookie(session=session, cookie=cookie)
    if found is None:
        return None
    row, user = found
    request.state.user = user
    request.state.csrf_token = row.csrf_token
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER) or getattr(request.state, "form_csrf", None)
        if not tokens_match(row.csrf_token, given):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
    if user.must_change_password and not request.url.path.startswith(PASSWORD_PATHS):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "change the one-time password first",
            headers={"Location": "/account/password"},
        )
    return people.actor_for_user(user)


async def read_form_csrf(request: Request) -> None:
    """Route dependency for HTML form posts: lifts `csrf_token` out of the form so the
    authenticator can check it (Starlette caches the parsed form for the route's own fields)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        request.state.form_csrf = value if isinstance(value, str) else None


FormCsrf = Depends(read_form_csrf)


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(people.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def login_csrf(request: Request, cookie: str = LOGIN_CSRF_COOKIE) -> str:
    """The double-submit token for the login form (or another form without a session, under
    its own `cookie`: the sign-up page's): reuse the cookie's value or make one."""
    current = request.cookies.get(cookie)
    if current and 20 <= len(current) <= 64:
        return current
    return secrets.token_urlsafe(24)


def set_login_csrf_cookie(
    response: Response,
    request: Request,
    value: str,
    *,
    cookie: str = LOGIN_CSRF_COOKIE,
    path: str = "/login",
) -> None:
    response.set_cookie(
        cookie,
        value,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""
