"""`fetch_or_404`: the row a path id names, or the failure's 404; a guard refuses first."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import Session

from coordinator import errors
from coordinator.accounts.service import Actor
from coordinator.deps import current_actor
from coordinator.lookup import MAX_ID, fetch_or_404


class _NoThing(errors.DomainError):
    status = 404
    code = "test_no_thing"


ROWS = {1: "one", 2: "two"}
loaded: list[int] = []


def _load(session: Session, thing_id: int) -> str | None:
    loaded.append(thing_id)
    return ROWS.get(thing_id)


def _only_one(actor: Actor, thing_id: int) -> None:
    if thing_id != 1:
        raise HTTPException(403, "not yours")


Thing = Annotated[str, fetch_or_404("thing_id", _load, missing=lambda i: _NoThing(f"no {i}"))]
Guarded = Annotated[
    str, fetch_or_404("thing_id", _load, missing=lambda i: _NoThing(f"no {i}"), guard=_only_one)
]


def _client() -> TestClient:
    app = FastAPI()
    app.state.services = SimpleNamespace(engine=create_engine("sqlite://"))
    app.add_exception_handler(errors.DomainError, errors.answer)
    app.dependency_overrides[current_actor] = lambda: Actor(name="t", role="station_manager")

    @app.get("/things/{thing_id}")
    def thing(found: Thing) -> str:
        return found

    @app.get("/guarded/{thing_id}")
    def guarded(found: Guarded) -> str:
        return found

    return TestClient(app)


def test_the_row_or_the_failures_404():
    client = _client()
    assert client.get("/things/2").json() == "two"
    r = client.get("/things/3")
    assert (r.status_code, r.json()) == (404, {"detail": "no 3", "code": "test_no_thing"})


def test_an_id_outside_the_database_integers_is_a_422_and_never_loaded():
    client = _client()
    loaded.clear()
    for bad in ("0", "-1", str(MAX_ID + 1), "x"):
        assert client.get(f"/things/{bad}").status_code == 422, bad
    assert loaded == []


def test_the_guard_refuses_before_anything_is_loaded():
    client = _client()
    loaded.clear()
    assert client.get("/guarded/1").json() == "one"
    assert client.get("/guarded/2").status_code == 403
    assert client.get("/guarded/99").status_code == 403  # not "there is no 99"
    assert loaded == [1]


def test_the_path_parameter_keeps_its_name_in_the_schema():
    schema = _client().app.openapi()
    [param] = schema["paths"]["/things/{thing_id}"]["get"]["parameters"]
    assert (param["name"], param["in"], param["schema"]["maximum"]) == ("thing_id", "path", MAX_ID)
