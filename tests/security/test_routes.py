"""Every route of the app against every role, from one table.

The table is checked against `app.routes`, so a route added without a row fails this test. A
role outside a row's `allow` must be refused (401 without credentials, 403 with the wrong
ones); a role inside it must never be refused and never meet a 5xx. The paths use station A's
ids, so a manager of station B is outside every station-scoped row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from tests.security.conftest import ROLES, World

ANY = frozenset(ROLES)
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
DISPATCH = frozenset({"dispatcher", "admin"})
ADMIN = frozenset({"admin"})
#: station A's resources: its manager, and dispatchers who see every station
STATION_A = frozenset({"manager_a", "dispatcher", "admin"})
#: receipts and hand-outs are the station manager's own (admins may act for anyone)
MANAGER_A = frozenset({"manager_a", "admin"})
#: only with a session login or a valid provider signature: no bearer role passes
NOBODY = frozenset()


@dataclass(frozen=True)
class Row:
    path: str
    allow: frozenset[str]
    body: Any = None
    form: dict[str, str] | None = None
    stream: bool = False


#: (method, route path) → the request to send and who may make it
TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/openapi.json"): Row("/openapi.json", ANY),
    ("GET", "/docs"): Row("/docs", ANY),
    ("GET", "/docs/oauth2-redirect"): Row("/docs/oauth2-redirect", ANY),
    ("GET", "/redoc"): Row("/redoc", ANY),
    ("GET", "/healthz"): Row("/healthz", ANY),
    ("GET", "/metrics"): Row("/metrics", ANY),  # loopback only: see test_metrics_*
    ("POST", "/api/tokens"): Row("/api/tokens", ADMIN, {"role": "dispatcher"}),
    ("GET", "/api/users"): Row("/api/users", ADMIN),
    ("POST", "/api/users"): Row(
        "/api/users",
        ADMIN,
        {"username": "sec-user", "password": "correct horse battery", "role": "dispatcher"},
    ),
    ("PATCH", "/api/users/{user_id}"): Row("/api/users/999", ADMIN, {"active": False}),
    ("POST", "/api/alerts"): Row(
        "/api/alerts",
        DISPATCH,
        {"kind": "snow", "level": "blue", "districts": ["云岩区"], "headline": "test"},
    ),
    ("POST", "/api/alerts/cap"): Row("/api/alerts/cap", DISPATCH, "<alert/>"),
    ("POST", "/api/alerts/preview"): Row(
        "/api/alerts/preview",
        DISPATCH,
        {"kind": "snow", "level": "blue", "districts": ["云岩区"], "headline": "test"},
    ),
    ("GET", "/api/reports/incidents"): Row("/api/reports/incidents?status=closed", DISPATCH),
    ("GET", "/api/incidents"): Row("/api/incidents", DISPATCH),
    ("GET", "/api/incidents/{incident_id}"): Row("/api/incidents/{I}", DISPATCH),
    ("POST", "/api/incidents/{incident_id}/close"): Row("/api/incidents/999/close", DISPATCH, {}),
    ("GET", "/api/incidents/{incident_id}/report.{fmt}"): Row(
        "/api/incidents/{I}/report.xlsx", DISPATCH
    ),
    ("GET", "/api/incidents/{incident_id}/playbook-suggestions"): Row(
        "/api/incidents/{I}/playbook-suggestions", DISPATCH
    ),
    ("POST", "/api/incidents/{incident_id}/playbook-suggestions"): Row(
        "/api/incidents/{I}/playbook-suggestions", DISPATCH, {"accept": []}
    ),
    ("GET", "/api/reports/travel-rush/{year}.{fmt}"): Row(
        "/api/reports/travel-rush/2026.xlsx", DISPATCH
    ),
    ("GET", "/api/reports/travel-rush/{year}/forecast"): Row(
        "/api/reports/travel-rush/2026/forecast", DISPATCH
    ),
    ("POST", "/api/reports/travel-rush/{year}/forecast"): Row(
        "/api/reports/travel-rush/2026/forecast", DISPATCH, {"days": "not a list"}
    ),
    ("POST", "/api/assignments/{assignment_id}/cancel"): Row(
        "/api/assignments/{X}/cancel", DISPATCH, {"reason": "security test"}
    ),
    # {X} is not a station shift: a station manager may check in only at their own station
    ("POST", "/api/assignments/{assignment_id}/check-in"): Row(
        "/api/assignments/{X}/check-in", DISPATCH, {}
    ),
    ("POST", "/api/assignments/{assignment_id}/check-out"): Row(
        "/api/assignments/{X}/check-out", DISPATCH, {}
    ),
    ("POST", "/api/assignments/{assignment_id}/corrections"): Row(
        "/api/assignments/{X}/corrections",
        DISPATCH,
        {
            "started_at": "2026-01-01T08:00:00+08:00",
            "ended_at": "2026-01-01T09:00:00+08:00",
            "reason": "security test",
        },
    ),
    ("GET", "/api/volunteers/{volunteer_id}/hours"): Row("/api/volunteers/{V}/hours", DISPATCH),
    # service records and certificates (issue 15): personal data, the dispatchers' alone;
    # the verify page is public (a phone scanning a certificate's QR code)
    ("GET", "/api/volunteers/{volunteer_id}/certificate.pdf"): Row(
        "/api/volunteers/{V}/certificate.pdf", DISPATCH
    ),
    ("GET", "/api/incidents/{incident_id}/certificates.zip"): Row(
        "/api/incidents/{I}/certificates.zip", DISPATCH
    ),
    ("GET", "/api/certificates/{year}.zip"): Row("/api/certificates/2026.zip", DISPATCH),
    ("GET", "/api/exports/service-records.{fmt}"): Row(
        "/api/exports/service-records.csv", DISPATCH
    ),
    ("GET", "/verify/{serial}"): Row("/verify/0000-0000-0000-0000", ANY),
    ("POST", "/api/tasks/{task_id}/assign"): Row(
        "/api/tasks/{T}/assign", DISPATCH, {"volunteer_id": 999999}
    ),
    ("GET", "/api/playbooks"): Row("/api/playbooks", DISPATCH),
    ("PUT", "/api/playbooks/{kind}"): Row("/api/playbooks/other", DISPATCH, {"tasks": "x"}),
    ("GET", "/api/volunteers"): Row("/api/volunteers", DISPATCH),
    ("POST", "/api/volunteers"): Row("/api/volunteers", DISPATCH, {"name": "x", "phone": "1"}),
    ("GET", "/api/volunteers/{volunteer_id}"): Row("/api/volunteers/{V}", DISPATCH),
    # the roster page (issue 14): edit, opt out and back in, the roster as a download
    ("PATCH", "/api/volunteers/{volunteer_id}"): Row(
        "/api/volunteers/{V}", DISPATCH, {"language": "zh"}
    ),
    ("POST", "/api/volunteers/{volunteer_id}/opt-out"): Row(
        "/api/volunteers/999999/opt-out", DISPATCH, {}
    ),
    ("POST", "/api/volunteers/{volunteer_id}/opt-in"): Row(
        "/api/volunteers/999999/opt-in", DISPATCH, {}
    ),
    ("GET", "/api/exports/volunteers.{fmt}"): Row("/api/exports/volunteers.csv", DISPATCH),
    ("GET", "/api/volunteers/pending"): Row("/api/volunteers/pending", DISPATCH),
    ("POST", "/api/volunteers/{volunteer_id}/approve"): Row(
        "/api/volunteers/999999/approve", DISPATCH, {}
    ),
    ("POST", "/api/volunteers/{volunteer_id}/decline"): Row(
        "/api/volunteers/999999/decline", DISPATCH, {}
    ),
    ("POST", "/api/volunteers/import"): Row("/api/volunteers/import", DISPATCH, "name,phone\n"),
    # skills that expire, and the travel-rush rota (issue 15, items 6 and 7)
    ("GET", "/api/volunteers/{volunteer_id}/skill-expiry"): Row(
        "/api/volunteers/{V}/skill-expiry", DISPATCH
    ),
    ("PUT", "/api/volunteers/{volunteer_id}/skill-expiry"): Row(
        "/api/volunteers/{V}/skill-expiry", DISPATCH, {"skill": "first_aid", "expires_on": None}
    ),
    ("POST", "/api/rota/publish"): Row(
        "/api/rota/publish",
        STATION_A,
        {"first_day": "2027-01-25", "last_day": "2027-01-26", "station_id": "{A}"},
    ),
    # the rota page: a volunteer has no account; asking for a code is anyone's (the same
    # answer for every number), signing in takes a code texted to the phone, and the
    # volunteer's routes take only the rota cookie: no bearer role passes
    ("GET", "/rota"): Row("/rota", ANY),
    ("POST", "/api/rota/code"): Row("/api/rota/code", ANY, {"phone": "+8613000000998"}),
    ("POST", "/api/rota/session"): Row(
        "/api/rota/session", NOBODY, {"phone": "+8613000000998", "code": "123456"}
    ),
    ("POST", "/api/rota/session/end"): Row("/api/rota/session/end", ANY),
    ("GET", "/api/rota/shifts"): Row("/api/rota/shifts", NOBODY),
    ("POST", "/api/rota/shifts/{task_id}/pick"): Row("/api/rota/shifts/1/pick", NOBODY),
    ("POST", "/api/rota/assignments/{assignment_id}/give-back"): Row(
        "/api/rota/assignments/1/give-back", NOBODY
    ),
    # the "volunteer phone": no token is no entry; a phone's reply comes through the provider
    ("POST", "/api/sms/inbound"): Row(
        "/api/sms/inbound", DISPATCH, {"from": "+8613800138000", "body": "1"}
    ),
    ("GET", "/api/sms"): Row("/api/sms", DISPATCH),
    ("POST", "/webhooks/sms/twilio"): Row(
        "/webhooks/sms/twilio", NOBODY, form={"From": "+8613800138000", "Body": "1"}
    ),
    ("POST", "/webhooks/sms/twilio/status"): Row(
        "/webhooks/sms/twilio/status",
        NOBODY,
        form={"MessageSid": "SM1", "MessageStatus": "delivered"},
    ),
    # the push URLs' secret token is the credential: a guessed one is refused like no login
    ("POST", "/webhooks/sms/aliyun/{token}"): Row(
        "/webhooks/sms/aliyun/guessed-token-0123456789",
        NOBODY,
        [{"phone_number": "13800138000", "content": "1", "sequence_id": 1}],
    ),
    ("POST", "/webhooks/sms/tencent/{token}"): Row(
        "/webhooks/sms/tencent/guessed-token-0123456789",
        NOBODY,
        {"mobile": "13800138000", "nationcode": "86", "text": "1", "time": 1764835200},
    ),
    ("GET", "/api/items"): Row("/api/items", DISPATCH),
    ("GET", "/api/warehouses"): Row("/api/warehouses", DISPATCH),
    ("GET", "/api/warehouses/{warehouse_id}/stock"): Row("/api/warehouses/{W}/stock", DISPATCH),
    ("GET", "/api/stations"): Row("/api/stations", STATION_A | {"manager_b"}),
    ("GET", "/api/stations/{station_id}/stock"): Row("/api/stations/{A}/stock", STATION_A),
    ("GET", "/api/stations/{station_id}/movements"): Row("/api/stations/{A}/movements", STATION_A),
    ("PUT", "/api/stations/{station_id}/targets"): Row(
        "/api/stations/{A}/targets", DISPATCH, [{"item": "{sku}", "target": 10, "reorder_point": 2}]
    ),
    ("PUT", "/api/stations/{station_id}/managers"): Row(
        "/api/stations/{A}/managers", DISPATCH, {"phones": ["13912345678"]}
    ),
    ("GET", "/api/shipments"): Row("/api/shipments?station_id={A}", STATION_A),
    ("GET", "/api/shipments/{shipment_id}"): Row("/api/shipments/{S}", STATION_A),
    ("POST", "/api/shipments"): Row(
        "/api/shipments",
        DISPATCH,
        {"from_id": "{W}", "to_id": "{B}", "lines": [{"item": "{sku}", "quantity": 1}]},
    ),
    ("POST", "/api/shipments/{shipment_id}/receipt"): Row(
        "/api/shipments/{S}/receipt", MANAGER_A, {"lines": [{"item": "{sku}", "received": 5}]}
    ),
    ("PUT", "/api/shipments/{shipment_id}/receipt"): Row(
        "/api/shipments/{S2}/receipt", MANAGER_A, {"lines": [{"item": "{sku}", "received": 5}]}
    ),
    ("POST", "/api/shipments/{shipment_id}/receipt/correction"): Row(
        "/api/shipments/{S2}/receipt/correction",
        MANAGER_A,
        {"lines": [{"item": "{sku}", "received": 5}]},
    ),
    ("GET", "/api/stations/{station_id}/distributions"): Row(
        "/api/stations/{A}/distributions", STATION_A
    ),
    ("POST", "/api/stations/{station_id}/distributions"): Row(
        "/api/stations/{A}/distributions", MANAGER_A, {"item": "{sku}", "quantity": 1}
    ),
    ("POST", "/api/stations/{station_id}/distributions/{distribution_id}/undo"): Row(
        "/api/stations/{A}/distributions/999999/undo", MANAGER_A
    ),
    ("POST", "/api/warehouses/{station_id}/adjustments"): Row(
        "/api/warehouses/{W}/adjustments",
        DISPATCH,
        {"item": "{sku}", "delta": 1, "reason": "count"},
    ),
    ("POST", "/api/stations/{station_id}/adjustments"): Row(
        "/api/stations/{A}/adjustments", DISPATCH, {"item": "{sku}", "delta": 1, "reason": "count"}
    ),
    ("GET", "/api/discrepancies"): Row("/api/discrepancies", DISPATCH),
    ("POST", "/api/discrepancies/{discrepancy_id}/acknowledge"): Row(
        "/api/discrepancies/{D}/acknowledge", DISPATCH, {}
    ),
    ("GET", "/api/fund"): Row("/api/fund", DISPATCH),
    ("GET", "/api/plans"): Row("/api/plans", DISPATCH),
    ("GET", "/api/plans/{plan_id}"): Row("/api/plans/999", DISPATCH),
    ("POST", "/api/plans"): Row("/api/plans", DISPATCH, {"station_ids": ["{A}"]}),
    ("POST", "/api/plans/{plan_id}/approve"): Row("/api/plans/999/approve", DISPATCH, {}),
    ("POST", "/api/forecasts"): Row("/api/forecasts", DISPATCH, "station,day,travellers\n"),
    ("GET", "/api/forecasts"): Row("/api/forecasts?station_id={A}", DISPATCH),
    ("GET", "/api/exports/{filename}"): Row("/api/exports/stock.csv", DISPATCH),
    ("GET", "/login"): Row("/login", ANY),
    # without the login form's double-submit CSRF token nobody gets in (403)
    ("POST", "/login"): Row("/login", NOBODY, form={"username": "x", "password": "y"}),
    ("POST", "/logout"): Row("/logout", SIGNED_IN, form={}),
    ("GET", "/account/password"): Row("/account/password", SIGNED_IN),
    ("POST", "/account/password"): Row(
        "/account/password", NOBODY, form={"current": "a", "new": "b", "repeat": "b"}
    ),
    ("GET", "/admin/users"): Row("/admin/users", ADMIN),
    ("POST", "/admin/users"): Row("/admin/users", ADMIN, form={"username": "x"}),
    ("POST", "/admin/users/{user_id}/unlock"): Row("/admin/users/999/unlock", ADMIN, form={}),
    ("POST", "/admin/users/{user_id}/disable"): Row("/admin/users/999/disable", ADMIN, form={}),
    ("POST", "/admin/users/{user_id}/enable"): Row("/admin/users/999/enable", ADMIN, form={}),
    ("POST", "/admin/users/{user_id}/reset-password"): Row(
        "/admin/users/999/reset-password", ADMIN, form={}
    ),
    # the public sign-up page (issue 15): anyone may see it; its forms need the page's own
    # double-submit CSRF token, which no role's credentials carry (403 for all)
    ("GET", "/join"): Row("/join", ANY),
    ("POST", "/join/code"): Row(
        "/join/code", NOBODY, form={"name": "x", "phone": "13900000000", "district": "520103"}
    ),
    ("POST", "/join"): Row("/join", NOBODY, form={"name": "x", "phone": "1", "code": "123456"}),
    ("GET", "/board/posters"): Row("/board/posters", DISPATCH),
    ("GET", "/board/posters/{kind}/{ident}"): Row("/board/posters/district/520103", DISPATCH),
    ("GET", "/favicon.ico"): Row("/favicon.ico", ANY),
    ("GET", "/"): Row("/", ANY),
    ("GET", "/board"): Row("/board", DISPATCH),
    ("GET", "/board/snapshot"): Row("/board/snapshot", DISPATCH),
    ("GET", "/board/stream"): Row("/board/stream", DISPATCH, stream=True),
    ("GET", "/board/phone"): Row("/board/phone", DISPATCH),
    ("GET", "/board/volunteers"): Row("/board/volunteers", DISPATCH),
    # the reports (issue 16): figures of every incident and season, for dispatchers
    ("GET", "/board/incidents"): Row("/board/incidents", DISPATCH),
    ("GET", "/board/incidents/{incident_id}/report"): Row("/board/incidents/{I}/report", DISPATCH),
    ("GET", "/board/reports/travel-rush/{year}"): Row("/board/reports/travel-rush/2026", DISPATCH),
    ("GET", "/board/phone/inboxes"): Row("/board/phone/inboxes", DISPATCH),
    ("GET", "/board/geo/guiyang.json"): Row("/board/geo/guiyang.json", DISPATCH),
    ("GET", "/stations/{station_id}"): Row("/stations/{A}", STATION_A),
    ("GET", "/stations/{station_id}/data"): Row("/stations/{A}/data", STATION_A),
    ("GET", "/board/static/{path:path}"): Row("/board/static/board.css", ANY),
}


def _flatten(routes: list[BaseRoute]) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for r in routes:
        inner = getattr(r, "original_router", None) or getattr(r, "app", None)
        if isinstance(r, Route):
            out.append(r)
        elif inner is not None and hasattr(inner, "routes"):
            out.extend(_flatten(list(inner.routes)))
    return out


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD rides along with GET)."""
    found = set()
    for route in _flatten(list(app.routes)):
        assert isinstance(route, Route | APIRoute)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_route_has_a_row() -> None:
    from nuanliu.app import create_app

    served = app_routes(create_app())
    missing = sorted(served - TABLE.keys())
    stale = sorted(TABLE.keys() - served)
    assert not missing, f"routes without a row in the security table: {missing}"
    assert not stale, f"rows for routes the app no longer serves: {stale}"


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(**ids) if "{" in value and "<" not in value else value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def send(world: World, method: str, row: Row, role: str) -> int:
    client, ids = world.client, world.ids
    path = row.path.format(**ids)
    headers = world.headers(role)
    if row.stream:
        # read the status line only: an allowed stream lasts until the client goes away
        with client.stream(method, path, headers=headers) as response:
            return response.status_code
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if row.form is not None:
        kwargs["data"] = row.form
    elif isinstance(row.body, str):
        kwargs["content"] = row.body.encode()
        kwargs["headers"] = {**headers, "Content-Type": "text/plain"}
        if row.body.startswith("<"):
            kwargs["headers"]["Content-Type"] = "application/xml"
        elif "," in row.body:
            kwargs["headers"]["Content-Type"] = "text/csv"
    elif row.body is not None:
        kwargs["json"] = _fill(row.body, ids)
    return client.request(method, path, **kwargs).status_code


@pytest.mark.integration
def test_every_route_against_every_role(world: World) -> None:
    """Denied roles before allowed ones in each row, so a write that succeeds cannot change
    what a later refusal means."""
    wrong: list[str] = []
    allowed_2xx = 0
    for (method, route), row in TABLE.items():
        for role in sorted(ROLES, key=lambda r: r in row.allow):
            code = send(world, method, row, role)
            where = f"{method} {route} as {role}: {code}"
            if code >= 500:
                wrong.append(f"{where} (server error)")
            elif role in row.allow:
                if code in (401, 403):
                    wrong.append(f"{where} (refused, but the role is allowed)")
                allowed_2xx += 200 <= code < 300
            elif role == "anonymous" and code != 401 and row.allow is not NOBODY:
                wrong.append(f"{where} (expected 401)")
            elif code not in (401, 403):
                wrong.append(f"{where} (expected 401/403)")
    assert not wrong, "\n".join(wrong)
    # the table exercises the allowed paths too, not only the refusals
    assert allowed_2xx >= 60, allowed_2xx


def test_metrics_off_loopback_and_another_station_by_any_id(world: World) -> None:
    """/metrics refuses a remote client; station B's manager gets nothing of station A's,
    whichever id or filter they try."""
    from fastapi.testclient import TestClient

    remote = TestClient(world.client.app, client=("203.0.113.7", 50000))
    assert remote.get("/metrics").status_code == 403
    assert world.client.get("/metrics").status_code == 200
    ids = world.ids
    h = world.headers("manager_b")
    c = world.client
    assert c.get(f"/api/stations/{ids['A']}/stock", headers=h).status_code == 403
    assert c.get(f"/api/shipments/{ids['S']}", headers=h).status_code == 403
    assert c.get(f"/api/shipments?station_id={ids['A']}", headers=h).status_code == 403
    # no station filter: a manager sees only their own station's shipments
    listed = c.get("/api/shipments", headers=h)
    assert listed.status_code in (200, 403)
    if listed.status_code == 200:
        body = listed.json()
        rows = body if isinstance(body, list) else body.get("items", body.get("data", []))
        assert all(r.get("to_id") != ids["A"] for r in rows), rows
    # and their own station is fine
    assert c.get(f"/api/stations/{ids['B']}/stock", headers=h).status_code == 200
