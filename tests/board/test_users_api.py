"""Admin user management through the API, with bad input: clear 4xx, nothing stored changes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.board.conftest import login
from tests.conftest import bearer


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "ok_name", "password": "long-enough-1", "role": "overlord"},
        {"username": "ok_name", "password": "short", "role": "dispatcher"},
        {"username": "bad name!", "password": "long-enough-1", "role": "dispatcher"},
        {"username": "x" * 65, "password": "long-enough-1", "role": "dispatcher"},
        {"username": "ok_name", "password": "long-enough-1", "role": "station_manager"},
        {
            "username": "ok_name",
            "password": "long-enough-1",
            "role": "station_manager",
            "station_ids": [99999],
        },
        {
            "username": "ok_name",
            "password": "ok_name_ok",
            "role": "dispatcher",
            "station_ids": "nope",
        },
        {"username": "dora", "password": "long-enough-1", "role": "dispatcher"},
    ],
)
def test_bad_user_bodies_are_refused(
    web: Any, users: Any, tokens: dict[str, str], body: dict[str, Any]
) -> None:
    before = web.get("/api/users", headers=bearer(tokens["admin"])).json()
    response = web.post("/api/users", json=body, headers=bearer(tokens["admin"]))
    assert response.status_code == 422, response.text
    assert web.get("/api/users", headers=bearer(tokens["admin"])).json() == before


def test_only_admins_manage_users(web: Any, users: Any, tokens: dict[str, str]) -> None:
    body = {"username": "newbie", "password": "long-enough-1", "role": "dispatcher"}
    for who in ("dispatcher", "manager_a"):
        assert web.post("/api/users", json=body, headers=bearer(tokens[who])).status_code == 403
        assert web.get("/api/users", headers=bearer(tokens[who])).status_code == 403
    assert web.post("/api/users", json=body).status_code == 401


def test_admin_resets_disables_and_moves_a_manager(
    web: Any, users: Any, tokens: dict[str, str], stations: list[int]
) -> None:
    admin = bearer(tokens["admin"])
    mia = next(u for u in web.get("/api/users", headers=admin).json() if u["username"] == "mia")
    moved = web.patch(f"/api/users/{mia['id']}", json={"station_ids": [stations[2]]}, headers=admin)
    assert moved.status_code == 200 and moved.json()["station_ids"] == [stations[2]]
    assert (
        web.patch(f"/api/users/{mia['id']}", json={"station_ids": []}, headers=admin).status_code
        == 422
    )
    assert web.patch("/api/users/424242", json={"unlock": True}, headers=admin).status_code == 404
    reset = web.patch(
        f"/api/users/{mia['id']}", json={"password": "temporary-pass-1"}, headers=admin
    )
    assert reset.json()["must_change_password"] is True
    assert login(web, "mia", "temporary-pass-1").headers["location"] == "/account/password"
    web.cookies.clear()
    disabled = web.patch(f"/api/users/{mia['id']}", json={"disabled": True}, headers=admin)
    assert disabled.json()["disabled"] is True
    assert login(web, "mia", "temporary-pass-1").status_code == 403


def test_admin_creates_a_user_on_the_page_with_a_one_time_password(
    web: Any, users: Any, stations: list[int]
) -> None:
    login(web, "ada")
    page = web.get("/admin/users", headers={"Accept": "text/html"})
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    made = web.post(
        "/admin/users",
        data={
            "username": "li_lei",
            "role": "station_manager",
            "station_id": str(stations[1]),
            "csrf_token": token,
        },
    )
    assert made.status_code == 200
    password = made.text.split('id="one-time-password">', 1)[1].split("<", 1)[0]
    missing_station = web.post(
        "/admin/users",
        data={
            "username": "han_mei",
            "role": "station_manager",
            "station_id": "",
            "csrf_token": token,
        },
    )
    assert missing_station.status_code == 422
    web.cookies.clear()
    assert login(web, "li_lei", password).headers["location"] == "/account/password"
