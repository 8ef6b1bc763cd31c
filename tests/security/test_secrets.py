"""Secrets never leak: API tokens, the Twilio auth token and a database password appear in no
log record, no error response and not in /metrics."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from coordinator.config import Settings
from tests.security.conftest import TWILIO_TOKEN, World

DB_PASSWORD = "pg-pass-w0rd-never-shown-9f3e"
DEAD_DB = f"postgresql://nuanliu:{DB_PASSWORD}@127.0.0.1:9/nuanliu"
GUESSED_TOKEN = "guessed-token-that-is-not-valid-0b7a1"


def _exercise(world: World) -> list[Any]:
    """Requests that make the app log and answer errors: bad tokens, wrong roles, bad bodies,
    forged webhooks, a token minted through the API, health and metrics."""
    c, ids = world.client, world.ids
    responses = []
    for token in (GUESSED_TOKEN, world.tokens["manager_b"], world.tokens["dispatcher"]):
        h = {"Authorization": f"Bearer {token}"}
        responses += [
            c.get("/api/incidents", headers=h),
            c.get(f"/api/stations/{ids['A']}/stock", headers=h),
            c.post("/api/tokens", json={"role": "admin"}, headers=h),
            c.post("/api/alerts", content=b"{not json", headers=h),
            c.post("/api/sms/inbound", json={"from": "x" * 500, "body": "1"}, headers=h),
        ]
    responses.append(
        c.post(
            "/webhooks/sms/twilio",
            data={"From": "+8613800138000", "Body": TWILIO_TOKEN},
            headers={"X-Twilio-Signature": TWILIO_TOKEN},
        )
    )
    responses.append(c.get("/healthz"))
    return responses


def test_no_secret_in_logs_errors_or_metrics(world: World, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    minted = world.client.post("/api/tokens", json={"role": "dispatcher"}, headers=admin)
    assert minted.status_code == 201
    new_token = minted.json()["token"]
    # the new token works, and is shown once: in the answer that made it, nowhere after
    h = {"Authorization": f"Bearer {new_token}"}
    assert world.client.get("/api/incidents", headers=h).status_code == 200
    responses = _exercise(world)
    metrics = world.client.get("/metrics")
    assert metrics.status_code == 200
    secrets = {
        "a guessed token": GUESSED_TOKEN,
        "the minted token": new_token,
        "the Twilio auth token": TWILIO_TOKEN,
        **{f"the {role} token": t for role, t in world.tokens.items()},
    }
    for name, secret in secrets.items():
        assert secret not in caplog.text, f"{name} is in the logs"
        assert secret not in metrics.text, f"{name} is in /metrics"
    errors = [r for r in responses if r.status_code >= 400]
    assert len(errors) >= 10
    for r in errors:
        for name, secret in secrets.items():
            # an answer never echoes a credential, whoever sent it
            assert secret not in r.text, f"{name} echoed by {r.request.url}: {r.text}"


def test_settings_never_show_the_twilio_token_or_admin_token() -> None:
    settings = Settings(
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN, NUANLIU_ADMIN_TOKEN="admin-secret-value-1234567890"
    )
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    assert TWILIO_TOKEN not in shown
    assert "admin-secret-value-1234567890" not in shown


def test_a_database_password_is_not_shown_when_the_database_is_down(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/healthz` with a dead database, and a command that cannot connect, name the problem
    without the password in DATABASE_URL."""
    from coordinator.config import get_settings
    from coordinator.db import make_engine
    from coordinator.process import Services
    from nuanliu.app import create_app
    from nuanliu.cli import app as cli

    caplog.set_level(logging.DEBUG)
    settings = Settings(DATABASE_URL=DEAD_DB)
    engine = make_engine(settings)
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        health = client.get("/healthz")
        metrics = client.get("/metrics")
    engine.dispose()
    assert health.status_code == 503 and health.json()["database"].startswith("down")
    assert DB_PASSWORD not in health.text and DB_PASSWORD not in metrics.text

    monkeypatch.setenv("DATABASE_URL", DEAD_DB)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["check"])
    get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "cannot use the database" in result.output
    assert DB_PASSWORD not in result.output
    assert DB_PASSWORD not in caplog.text
