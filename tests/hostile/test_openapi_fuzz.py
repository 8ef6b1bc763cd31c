"""schemathesis against `/openapi.json`, through the ASGI app, with every role's token: no 5xx
and no answer that breaks its own documented schema, over more than 1,000 generated requests."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
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

    from coordinator.main import create_app

    rt: Any = SimpleNamespace(
        settings=settings, engine=engine, bootstrap=broker.bootstrap, services={}
    )
    app = create_app(runtime=rt)
    sent: Counter[str] = Counter()
    failures: list[str] = []
    known: Counter[str] = Counter()
    with TestClient(app):  # runs the lifespan once: app.state holds the engine and settings
        schema = schemathesis.openapi.from_asgi("/openapi.json", _answer_500(app))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 40
        for operation in operations:
            _fuzz(operation, tokens, sent, failures, known)
    total = sum(sent.values())
    print(f"schemathesis: {total} requests: {dict(sorted(sent.items()))}")
    print(f"schemathesis: known bugs met: {dict(known)}")
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


#: 2**63 - 1: the largest id either database stores
MAX_ID = 2**63 - 1


#: routes whose ids are not bounded yet (logistics bounds its own since 867c962)
OPEN_ID_ROUTES = {
    "/api/users",
    "/api/users/{user_id}",
    "/api/volunteers/{volunteer_id}",
    "/stations/{station_id}/data",
}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _leaves(v)]
    return [value]


def known_bug(operation: Any, case: Any, status: int, message: str) -> str | None:
    """The name of a bug already reported (each has a strict-xfail reproduction in
    test_known_bugs.py), so that the fuzz run keeps hunting for new ones meanwhile."""
    if status == 422 and '"type": "array"' in message and "HTTPValidationError" in message:
        return "domain 422 detail is not the documented HTTPValidationError array"
    if status == 500:
        sent = [case.path_parameters, case.query, case.body]
        huge = any(isinstance(v, int) and abs(v) > MAX_ID for v in _leaves(sent))
        if huge and operation.path in OPEN_ID_ROUTES:
            return "an id past 64 bits in the path, query or body is a 500"
        if operation.method.upper() == "GET" and operation.path == "/api/volunteers":
            return "GET /api/volunteers?skill= with control characters is a 500"
    return None


def _fuzz(
    operation: Any,
    tokens: dict[str, str],
    sent: Counter[str],
    failures: list[str],
    known: Counter[str],
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
            bug = known_bug(operation, case, response.status_code, message)
            if bug:
                known[bug] += 1
                return
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
