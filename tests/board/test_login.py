"""People log in: sessions, CSRF, lockout, the first admin, and roles/stations checked by the
same dependency for pages and the API (bearer tokens included)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.accounts import people
from tests.board.conftest import PASSWORD, csrf_of, login
from tests.conftest import bearer


def test_login_sets_a_hardened_session_cookie_and_lands_by_role(web: Any, users: Any) -> None:
    response = login(web, "dora")
    assert response.status_code == 303 and response.headers["location"] == "/board"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("nuanliu_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert web.get("/board", headers={"Accept": "text/html"}).status_code == 200


def test_station_manager_lands_on_their_station(web: Any, users: Any, stations: list[int]) -> None:
    response = login(web, "mia")
    assert response.headers["location"] == f"/stations/{stations[0]}"


def test_pages_redirect_to_login_when_logged_out(web: Any, users: Any) -> None:
    response = web.get("/board", headers={"Accept": "text/html"})
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/board"
    assert web.get("/board/snapshot").status_code == 401
    assert web.get("/board/stream").status_code == 401


def test_login_form_without_csrf_token_is_refused(web: Any, users: Any) -> None:
    web.get("/login")
    response = web.post("/login", data={"username": "dora", "password": PASSWORD})
    assert response.status_code == 403
    response = web.post(
        "/login", data={"username": "dora", "password": PASSWORD, "csrf_token": "forged-token"}
    )
    assert response.status_code == 403
    assert "nuanliu_session" not in web.cookies


def test_session_post_without_csrf_is_refused(web: Any, users: Any) -> None:
    login(web, "ada")
    body = {"username": "newbie", "password": "a-long-password", "role": "dispatcher"}
    assert web.post("/api/users", json=body).status_code == 403
    assert web.post("/api/users", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    token = csrf_of(web)
    created = web.post("/api/users", json=body, headers={"X-CSRF-Token": token})
    assert created.status_code == 201, created.text
    assert created.json()["must_change_password"] is True
    # an HTML form post without its csrf_token field is refused too
    assert (
        web.post("/admin/users", data={"username": "x1", "role": "dispatcher"}).status_code == 403
    )
    assert web.post("/logout", data={}).status_code == 403


def test_login_locks_after_repeated_failures(web: Any, users: Any, engine: Engine) -> None:
    codes = [login(web, "dora", "wrong-password").status_code for _ in range(people.MAX_FAILURES)]
    assert codes[:-1] == [401] * (people.MAX_FAILURES - 1) and codes[-1] == 423
    locked = login(web, "dora")  # the right password does not open a locked account
    assert locked.status_code == 423 and "nuanliu_session" not in web.cookies
    admin = web.__class__(web.app, follow_redirects=False)
    login(admin, "ada")
    dora = next(u for u in admin.get("/api/users").json() if u["username"] == "dora")
    assert dora["locked_until"] is not None
    unlocked = admin.patch(
        f"/api/users/{dora['id']}", json={"unlock": True}, headers={"X-CSRF-Token": csrf_of(admin)}
    )
    assert unlocked.status_code == 200
    assert login(web, "dora").status_code == 303


def test_unknown_users_and_bad_input_get_clear_answers(web: Any, users: Any) -> None:
    assert login(web, "nobody").status_code == 401
    assert login(web, "x" * 65).status_code == 422
    assert login(web, "", "").status_code == 401
    assert login(web, "dora", "p" * 300).status_code == 422
    assert login(web, "dora").status_code == 303  # none of that locked dora


def test_login_next_is_never_an_open_redirect(web: Any, users: Any) -> None:
    form = web.get("/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for target, expected in [
        ("//evil.example/x", "/board"),
        ("https://evil.example", "/board"),
        ("/board/phone", "/board/phone"),
    ]:
        web.cookies.clear()
        form = web.get("/login")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = web.post(
            "/login",
            data={"username": "dora", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.headers["location"] == expected


def test_station_manager_is_kept_to_their_station(
    web: Any, users: Any, stations: list[int], tokens: dict[str, str]
) -> None:
    own, other = stations[0], stations[1]
    login(web, "mia")
    html = {"Accept": "text/html"}
    assert web.get(f"/stations/{own}", headers=html).status_code == 200
    assert web.get(f"/stations/{own}/data").status_code == 200
    assert web.get(f"/stations/{other}", headers=html).status_code == 403
    assert web.get(f"/stations/{other}/data").status_code == 403
    assert web.get(f"/api/stations/{other}/stock").status_code == 403
    assert web.get(f"/api/stations/{own}/stock").status_code == 200
    for path in (
        "/board",
        "/board/snapshot",
        "/board/stream",
        "/board/phone",
        "/api/incidents",
        "/api/sms",
        "/api/discrepancies",
        "/admin/users",
        "/api/users",
    ):
        assert web.get(path, headers=html).status_code == 403, path
    # the same rules for the manager's bearer token (manager_a manages the first station)
    anon = web.__class__(web.app, follow_redirects=False)
    token = bearer(tokens["manager_a"])
    assert anon.get(f"/stations/{own}/data", headers=token).status_code == 200
    assert anon.get(f"/stations/{other}/data", headers=token).status_code == 403
    assert anon.get(f"/api/stations/{other}/stock", headers=token).status_code == 403
    for path in ("/board/snapshot", "/board/stream", "/api/incidents", "/api/users"):
        assert anon.get(path, headers=token).status_code == 403, path


def test_first_start_admin_must_change_the_one_time_password(web: Any, engine: Engine) -> None:
    with Session(engine) as s:
        password = people.ensure_first_admin(session=s)
        assert password and len(password) == 16
        assert people.ensure_first_admin(session=s) is None  # once only
    response = login(web, "admin", password)
    assert response.headers["location"] == "/account/password"
    blocked = web.get("/board", headers={"Accept": "text/html"})
    assert blocked.status_code == 303 and blocked.headers["location"] == "/account/password"
    assert web.get("/api/users").status_code == 403
    token = csrf_of(web, "/account/password")
    weak = web.post(
        "/account/password",
        data={"current": password, "new": "short", "repeat": "short", "csrf_token": token},
    )
    assert weak.status_code == 422
    changed = web.post(
        "/account/password",
        data={
            "current": password,
            "new": "a-better-secret",
            "repeat": "a-better-secret",
            "csrf_token": token,
        },
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/board"
    assert web.get("/board", headers={"Accept": "text/html"}).status_code == 200
    web.cookies.clear()
    assert login(web, "admin", password).status_code == 401
    assert login(web, "admin", "a-better-secret").status_code == 303


def test_logout_ends_the_session(web: Any, users: Any) -> None:
    login(web, "dora")
    token = csrf_of(web)
    cookie = web.cookies["nuanliu_session"]
    assert web.post("/logout", data={"csrf_token": token}).status_code == 303
    web.cookies.set("nuanliu_session", cookie)  # replaying the old cookie does not work
    assert web.get("/board/snapshot").status_code == 401


def test_one_address_is_rate_limited_across_usernames(users: Any, engine: Engine) -> None:
    import pytest

    with Session(engine) as s:
        for n in range(people.MAX_ATTEMPTS_PER_ADDRESS):
            with pytest.raises(people.LoginRefused) as refused:
                people.authenticate(
                    session=s, username=f"guess{n}", password="x", address="203.0.113.9"
                )
            assert refused.value.reason == "invalid"
        with pytest.raises(people.LoginRefused) as limited:
            people.authenticate(
                session=s, username="dora", password=PASSWORD, address="203.0.113.9"
            )
        assert limited.value.reason == "rate_limited"
        # another address is not affected
        assert (
            people.authenticate(
                session=s, username="dora", password=PASSWORD, address="198.51.100.1"
            ).user.username
            == "dora"
        )


def test_expired_and_tampered_sessions_are_not_sessions(
    web: Any, users: Any, engine: Engine
) -> None:
    from datetime import timedelta

    from sqlmodel import select

    from coordinator.accounts.models import UserSession
    from coordinator.common import utcnow

    login(web, "dora")
    assert web.get("/board/snapshot").status_code == 200
    cookie = web.cookies["nuanliu_session"]
    web.cookies.set("nuanliu_session", cookie[:-2] + "xx")
    assert web.get("/board/snapshot").status_code == 401
    web.cookies.set("nuanliu_session", "y" * 500)
    assert web.get("/board/snapshot").status_code == 401
    web.cookies.set("nuanliu_session", cookie)
    with Session(engine) as s:
        for row in s.exec(select(UserSession)).all():
            row.expires_at = utcnow() - timedelta(seconds=1)
            s.add(row)
        s.commit()
    assert web.get("/board/snapshot").status_code == 401
