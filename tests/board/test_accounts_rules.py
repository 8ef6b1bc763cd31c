"""The username and password rules (one of each, in `accounts.rules`), the role a new user must
be given, and what an admin does from the users page: disable, enable, reset a password.
Through the API and the page's forms, each refusal clear and storing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.accounts import people, rules
from coordinator.accounts.models import AuditLog, User
from tests.board.conftest import PASSWORD, csrf_of, login
from tests.conftest import bearer

GOOD_PASSWORD = "granite lantern orchard"


def _users(engine: Engine) -> dict[str, User]:
    with Session(engine) as s:
        return {u.username: u for u in s.exec(select(User)).all()}


def _audit(engine: Engine, action: str) -> list[AuditLog]:
    with Session(engine) as s:
        return list(
            s.exec(select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id)))
        )


def _form_token(web: Any, path: str = "/admin/users") -> str:
    page = web.get(path, headers={"Accept": "text/html"})
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _error(html: str) -> tuple[str, str]:
    """(Chinese, English) of the page's error paragraph."""
    tail = html.split('id="form-error"', 1)[1]
    en = tail.split('data-en="', 1)[1].split('"', 1)[0]
    zh = tail.split(">", 1)[1].split("<", 1)[0]
    return zh, en


# -- usernames ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["金阳站长", "li_lei", "a.b@c-d", "José", "Ünal-2", "张三"])
def test_usernames_of_any_script_are_taken(
    web: Any, users: Any, tokens: dict[str, str], name: str, engine: Engine
) -> None:
    body = {"username": name, "password": GOOD_PASSWORD, "role": "dispatcher"}
    made = web.post("/api/users", json=body, headers=bearer(tokens["admin"]))
    assert made.status_code == 201, made.text
    assert made.json()["username"] == name and name in _users(engine)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("x", "2 to 32 characters"),
        ("", "2 to 32 characters"),
        ("y" * 33, "2 to 32 characters"),
        ("bad name!", "not ' ' '!'"),
        ("a/b", "not '/'"),
        ("😀😀", "not '😀'"),
        ("金阳站长 ", None),  # outer spaces are dropped: this one is fine
    ],
)
def test_usernames_outside_the_rule_are_refused_with_the_reason(
    web: Any, users: Any, tokens: dict[str, str], engine: Engine, name: str, says: str | None
) -> None:
    before = set(_users(engine))
    body = {"username": name, "password": GOOD_PASSWORD, "role": "dispatcher"}
    answer = web.post("/api/users", json=body, headers=bearer(tokens["admin"]))
    if says is None:
        assert answer.status_code == 201 and answer.json()["username"] == name.strip()
        return
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "bad_username"
    assert says in answer.json()["detail"]
    assert set(_users(engine)) == before


def test_a_name_typed_in_two_unicode_forms_is_one_name(
    web: Any, users: Any, tokens: dict[str, str]
) -> None:
    admin = bearer(tokens["admin"])
    decomposed = "Jose\u0301"  # e + combining acute: what some keyboards send for é
    first = web.post(
        "/api/users",
        json={"username": decomposed, "password": GOOD_PASSWORD, "role": "dispatcher"},
        headers=admin,
    )
    assert first.status_code == 201 and first.json()["username"] == "José"
    again = web.post(
        "/api/users",
        json={"username": "José", "password": GOOD_PASSWORD, "role": "dispatcher"},
        headers=admin,
    )
    assert again.status_code == 422 and again.json()["code"] == "username_taken"


def test_the_html_pattern_is_the_server_rule() -> None:
    """What the form's pattern allows, the server allows (Python's `regex` is not a dependency:
    the pattern's classes are spelled out here instead)."""
    assert rules.USERNAME_PATTERN == r"[\p{L}\p{M}\p{Nd}_.@\-]{2,32}"
    for name in ("金阳站长", "ab", "a" * 32, "Ünal.x@y-z_1"):
        assert rules.check_username(name) == name


# -- roles and stations on the page ------------------------------------------------------------
def test_the_form_preselects_no_role_and_refuses_none(web: Any, users: Any, engine: Engine) -> None:
    login(web, "ada")
    page = web.get("/admin/users", headers={"Accept": "text/html"}).text
    role_select = page.split('id="new-role"', 1)[1].split("</select>", 1)[0]
    assert role_select.count("selected") == 1 and 'value="" selected disabled' in role_select
    before = set(_users(engine))
    answer = web.post(
        "/admin/users", data={"username": "金阳站长", "role": "", "csrf_token": _form_token(web)}
    )
    assert answer.status_code == 422
    assert _error(answer.text) == (
        "请选择角色：管理员、调度员或站长",
        "Choose a role: admin, dispatcher, station_manager",
    )
    assert set(_users(engine)) == before


def test_a_station_manager_without_a_station_is_refused_everywhere(
    web: Any, users: Any, tokens: dict[str, str], engine: Engine, stations: list[int]
) -> None:
    """The accident of issue 14: 金阳站长 typed with no station must not become anything."""
    login(web, "ada")
    before = set(_users(engine))
    answer = web.post(
        "/admin/users",
        data={"username": "金阳站长", "role": "station_manager", "csrf_token": _form_token(web)},
    )
    assert answer.status_code == 422
    zh, en = _error(answer.text)
    assert zh == "站长必须选择一个站点" and "needs at least one station" in en
    api = web.post(
        "/api/users",
        json={"username": "金阳站长", "password": GOOD_PASSWORD, "role": "station_manager"},
        headers=bearer(tokens["admin"]),
    )
    assert api.status_code == 422 and api.json()["code"] == "stations_required"
    unknown = web.post(
        "/admin/users",
        data={
            "username": "金阳站长",
            "role": "station_manager",
            "station_id": "987654",
            "csrf_token": _form_token(web),
        },
    )
    assert unknown.status_code == 422 and _error(unknown.text)[1] == "No such station"
    assert set(_users(engine)) == before
    made = web.post(
        "/admin/users",
        data={
            "username": "金阳站长",
            "role": "station_manager",
            "station_id": str(stations[0]),
            "csrf_token": _form_token(web),
        },
    )
    assert made.status_code == 200
    manager = _users(engine)["金阳站长"]
    assert (manager.role, manager.station_ids) == ("station_manager", [stations[0]])
    with Session(engine) as s:  # the list names the station, not its id
        from coordinator.logistics.models import Place

        name = s.get(Place, stations[0]).name_zh  # type: ignore[union-attr]
    row = made.text.split('data-username="金阳站长"', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="stations">{name}</td>' in row


# -- passwords ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("1234567890", "guessable_password"),
        ("password123", "guessable_password"),
        ("dispatcher2024", "guessable_password"),
        ("Dispatcher2024!", "guessable_password"),
        ("nuanliu2026", "guessable_password"),
        ("qwertyuiop", "guessable_password"),
        ("wang_fang_1990", "guessable_password"),  # the username and a year
        ("wang_fang_", "weak_password"),  # the username again (the length is fine)
        ("short", "weak_password"),
    ],
)
def test_guessable_passwords_are_refused_with_a_reason(
    web: Any, users: Any, tokens: dict[str, str], engine: Engine, password: str, code: str
) -> None:
    body = {"username": "wang_fang_", "password": password, "role": "dispatcher"}
    answer = web.post("/api/users", json=body, headers=bearer(tokens["admin"]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert "wang_fang_" not in _users(engine)
    if code == "guessable_password":
        assert answer.json()["detail"].startswith("this password is too easy to guess")


def test_changing_to_a_common_password_is_refused_in_both_languages(
    web: Any, users: Any, engine: Engine
) -> None:
    login(web, "dora")
    token = csrf_of(web, "/account/password")
    answer = web.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": "1234567890",
            "repeat": "1234567890",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 422
    zh, en = _error(answer.text)
    assert zh.startswith("这个密码太容易被猜到（这是最常见的一百个密码之一）")
    assert en.startswith("This password is too easy to guess (This is a top-100 common password)")
    with Session(engine) as s:  # nothing changed: the old password still works
        dora = people.get_by_username(session=s, username="dora")
        assert dora is not None and people.verify_password(PASSWORD, dora.password_hash)
    good = web.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": GOOD_PASSWORD,
            "repeat": GOOD_PASSWORD,
            "csrf_token": token,
        },
    )
    assert good.status_code == 303


def test_one_time_passwords_always_pass_the_rules() -> None:
    for _ in range(300):
        password = people.new_one_time_password()
        rules.check_password(password, username="admin", names=["Administrator"])


# -- disable, enable, reset ------------------------------------------------------------------
def test_admin_disables_and_enables_a_user_from_the_page(
    web: Any, users: Any, engine: Engine
) -> None:
    dora = web.__class__(web.app, follow_redirects=False)
    assert login(dora, "dora").status_code == 303
    assert dora.get("/board/snapshot").status_code == 200
    login(web, "ada")
    dora_id = _users(engine)["dora"].id
    # without the form's CSRF token nothing happens
    assert web.post(f"/admin/users/{dora_id}/disable", data={}).status_code == 403
    assert not _users(engine)["dora"].disabled
    done = web.post(f"/admin/users/{dora_id}/disable", data={"csrf_token": _form_token(web)})
    assert done.status_code == 303 and done.headers["location"] == "/admin/users"
    assert _users(engine)["dora"].disabled
    assert dora.get("/board/snapshot").status_code == 401  # her session ended at once
    dora.cookies.clear()
    assert login(dora, "dora").status_code == 403
    page = web.get("/admin/users", headers={"Accept": "text/html"}).text
    row = page.split('data-username="dora"', 1)[1].split("</tr>", 1)[0]
    assert "停用" in row and f"/admin/users/{dora_id}/enable" in row
    enabled = web.post(f"/admin/users/{dora_id}/enable", data={"csrf_token": _form_token(web)})
    assert enabled.status_code == 303 and not _users(engine)["dora"].disabled
    dora.cookies.clear()
    assert login(dora, "dora").status_code == 303
    assert [a.subject for a in _audit(engine, "user.disabled")] == [f"user:{dora_id}"]
    assert [a.actor for a in _audit(engine, "user.enabled")] == ["admin:ada"]


def test_an_admin_cannot_disable_themselves(web: Any, users: Any, engine: Engine) -> None:
    login(web, "ada")
    ada_id = _users(engine)["ada"].id
    answer = web.post(f"/admin/users/{ada_id}/disable", data={"csrf_token": _form_token(web)})
    assert answer.status_code == 422
    assert _error(answer.text) == ("管理员不能停用自己", "Admins cannot disable themselves")
    assert not _users(engine)["ada"].disabled and not _audit(engine, "user.disabled")


def test_admin_resets_a_password_shown_once(web: Any, users: Any, engine: Engine) -> None:
    mia = web.__class__(web.app, follow_redirects=False)
    login(mia, "mia")
    for _ in range(people.MAX_FAILURES):  # and locks herself out on another device
        login(web.__class__(web.app, follow_redirects=False), "mia", "wrong-password")
    assert _users(engine)["mia"].locked_until is not None
    login(web, "ada")
    mia_id = _users(engine)["mia"].id
    answer = web.post(
        f"/admin/users/{mia_id}/reset-password", data={"csrf_token": _form_token(web)}
    )
    assert answer.status_code == 200
    password = answer.text.split('id="one-time-password">', 1)[1].split("<", 1)[0]
    rules.check_password(password, username="mia")
    assert password not in web.get("/admin/users", headers={"Accept": "text/html"}).text
    row = _users(engine)["mia"]
    assert row.must_change_password and row.locked_until is None
    assert mia.get(f"/stations/{row.station_ids[0]}/data").status_code == 401  # sessions ended
    fresh = web.__class__(web.app, follow_redirects=False)
    assert login(fresh, "mia").status_code == 401  # the old password is gone
    assert login(fresh, "mia", password).headers["location"] == "/account/password"
    audit = _audit(engine, "user.password_reset")
    assert [(a.actor, a.subject) for a in audit] == [("admin:ada", f"user:{mia_id}")]
    assert password not in str(audit[0].detail)


def test_a_disabled_user_gets_no_new_password(web: Any, users: Any, engine: Engine) -> None:
    login(web, "ada")
    dora_id = _users(engine)["dora"].id
    web.post(f"/admin/users/{dora_id}/disable", data={"csrf_token": _form_token(web)})
    answer = web.post(
        f"/admin/users/{dora_id}/reset-password", data={"csrf_token": _form_token(web)}
    )
    assert answer.status_code == 422 and "one-time-password" not in answer.text
    assert _error(answer.text)[0] == "该用户已停用：请先启用，再重置密码"
    missing = web.post("/admin/users/424242/reset-password", data={"csrf_token": _form_token(web)})
    assert missing.status_code == 404


def test_the_favicon_is_served(web: Any) -> None:
    icon = web.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")
    login_page = web.get("/login").text
    assert '<link rel="icon" href="/board/static/favicon.svg"' in login_page
    assert web.get("/board/static/favicon.svg").content == icon.content
