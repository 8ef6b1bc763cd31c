"""schemathesis against `/openapi.json`, through the ASGI app, with every role's token: no 5xx
and no answer that breaks its own documented schema, over more than 1,000 generated requests."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from events.embedded import EmbeddedBroker

pytestmark = [pytest.mark.slow, pytest.mark.integration]

#: examples per operation and role set; 43 operations × 26 ≈ 1,100 requests
PER_OPERATION = 26
#: hypothesis favours the first choices: the roles that may do most come first, so more of
#: the requests reach the routes rather than the authentication in front of them
ROLES = ("dispatcher", "admin", "manager_a", "manager_b", "anonymous")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    settings: Settings, engine: Engine, broker: EmbeddedBroker, tokens: dict[str, str]
) -> None:
    import schemathesis

    from coordinator.process import Services
    from nuanliu.app import create_app

    services = Services(settings=settings, engine=engine)
    app = create_app(services=services, bootstrap=broker.bootstrap)
    sent: Counter[str] = Counter()
    failures: list[str] = []
    with TestClient(app):  # runs the lifespan once: app.state holds the engine and settings
        schema = schemathesis.openapi.from_asgi("/openapi.json", _answer_500(app))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 40
        for operation in operations:
            _fuzz(operation, tokens, sent, failures)
    total = sum(sent.values())
    print(f"schemathesis: {total} requests: {dict(sorted(sent.items()))}")
    assert not failures, "\n\n".join(failures[:20])
    assert total >= 1000, total
    # the generated requests reach the routes, not only the authentication in front of them
    assert sum(n for k, n in sent.items() if k.endswith("2xx")) >= 60, sent


def _answer_500(app: Any) -> Any:
    """The app, with an exception that escapes it answered as the 500 a client would see
    (uvicorn does that), so it is reported with the request instead of ending the run."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def tracking(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracking)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            if started:  # Starlette's error middleware already answered 500, then re-raised
                return
            body = f"unhandled {type(exc).__name__}: {exc}"[:300].encode()
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": body})

    return wrapped


def _fuzz(
    operation: Any,
    tokens: dict[str, str],
    sent: Counter[str],
    failures: list[str],
) -> None:
    """Generate requests for one operation, each as a random role; record what came back."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    @settings_for_operation
    @given(case=operation.as_strategy(), role=st.sampled_from(ROLES))
    def run(case: Any, role: str) -> None:
        headers = {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}
        response = case.call(headers=headers)
        sent[f"{role} {response.status_code // 100}xx"] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except (Exception, BaseExceptionGroup) as exc:  # a group of check failures
            message = str(exc)
            failures.append(
                f"{operation.method.upper()} {operation.path} as {role}: "
                f"{response.status_code} {message[:600]}"
            )

    run()


settings_for_operation = settings(
    max_examples=PER_OPERATION,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
