"""Tokens and roles: 401 without or with a wrong token, 403 for the wrong role."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from sqlmodel import Session, select

from coordinator.accounts.models import ApiToken, AuditLog
from coordinator.accounts.service import actor_for_token, hash_token
from tests.conftest import bearer


def test_admin_makes_a_token_that_is_stored_hashed_and_audited(client, tokens, engine):
    r = client.post(
        "/api/tokens",
        json={"role": "dispatcher", "label": "night shift"},
        headers=bearer(tokens["admin"]),
    )
    assert r.status_code == 201
    token = r.json()["token"]
    with Session(engine) as s:
        stored = s.exec(select(ApiToken).where(ApiToken.label == "night shift")).one()
        assert stored.token_hash == hash_token(token) and token not in stored.token_hash
        actor = actor_for_token(session=s, token=token)
        assert actor is not None and actor.role == "dispatcher"
        audit = s.exec(select(AuditLog).where(AuditLog.action == "token.created")).one()
        assert audit.actor == "admin:test-admin"


def test_missing_and_wrong_tokens_get_401_and_wrong_roles_403(client, tokens):
    body = {"role": "dispatcher"}
    assert client.post("/api/tokens", json=body).status_code == 401
    assert client.post("/api/tokens", json=body, headers=bearer("nl_forged")).status_code == 401
    assert (
        client.post("/api/tokens", json=body, headers={"Authorization": "Basic abc"}).status_code
        == 401
    )
    for role in ("dispatcher", "manager_a"):
        assert (
            client.post("/api/tokens", json=body, headers=bearer(tokens[role])).status_code == 403
        )


def test_bad_token_requests_are_422(client, tokens):
    h = bearer(tokens["admin"])
    assert client.post("/api/tokens", json={"role": "emperor"}, headers=h).status_code == 422
    r = client.post("/api/tokens", json={"role": "station_manager"}, headers=h)
    assert r.status_code == 422 and "station" in r.text
    r = client.post(
        "/api/tokens", json={"role": "station_manager", "station_ids": [99999]}, headers=h
    )
    assert r.status_code == 422 and "99999" in r.text
    assert client.post("/api/tokens", content=b"{not json", headers=h).status_code == 422


def test_token_create_command_prints_a_working_token(settings, engine, demo):
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nuanliu",
            "token",
            "create",
            "--role",
            "station_manager",
            "--station",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    with Session(engine) as s:
        actor = actor_for_token(session=s, token=token)
    assert actor is not None and actor.role == "station_manager" and actor.may_manage(2)
    assert not actor.may_manage(3)
    bad = subprocess.run(
        [sys.executable, "-m", "nuanliu", "token", "create", "--role", "station_manager"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "needs at least one station" in bad.stderr


def test_audit_log_records_the_request_that_did_it(client, tokens, engine):
    r = client.post(
        "/api/tokens",
        json={"role": "dispatcher", "label": "traced"},
        headers={**bearer(tokens["admin"]), "X-Request-ID": "req-42"},
    )
    assert r.status_code == 201 and r.headers["X-Request-ID"] == "req-42"
    with Session(engine) as s:
        audit = s.exec(select(AuditLog).where(AuditLog.action == "token.created")).one()
    assert audit.request_id == "req-42"


def test_a_burst_looks_a_token_up_once_and_a_revoked_one_is_refused_after_the_cache(
    make_runtime, tokens, engine
):
    from fastapi.testclient import TestClient
    from sqlalchemy import event, update

    from nuanliu.app import create_app

    app = create_app(runtime=make_runtime(relay=False))
    lookups: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT") and "api_tokens" in statement:
            lookups.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with TestClient(app) as c:
            h = bearer(tokens["dispatcher"])
            assert all(c.get("/api/incidents", headers=h).status_code == 200 for _ in range(20))
            assert len(lookups) == 1
            with Session(engine) as s:
                s.execute(
                    update(ApiToken)
                    .where(ApiToken.token_hash == hash_token(tokens["dispatcher"]))
                    .values(revoked_at=datetime.now(UTC))
                )
                s.commit()
            app.state.token_cache.ttl_s = 0.0  # the cache's few seconds have passed
            assert c.get("/api/incidents", headers=h).status_code == 401
            # an unknown token is never cached: every try is looked up, and refused
            for _ in range(3):
                assert c.get("/api/incidents", headers=bearer("nl_forged")).status_code == 401
            assert len(lookups) == 5
    finally:
        event.remove(engine, "before_cursor_execute", count)
