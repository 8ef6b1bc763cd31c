"""One error type per domain failure: each has its own code and status, and the app's one
handler answers every one of them the same way."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from coordinator import errors


class _Refused(errors.DomainError):
    status = 409
    code = "test_refused"


def test_a_subclass_needs_a_code_of_its_own():
    with pytest.raises(TypeError, match="needs a code of its own"):

        class NoCode(errors.DomainError):
            status = 404


def test_a_code_is_used_once():
    with pytest.raises(TypeError, match="_Refused's already"):

        class Again(errors.DomainError):
            code = "test_refused"


def test_the_handler_answers_status_message_and_code():
    app = FastAPI()
    app.add_exception_handler(errors.DomainError, errors.answer)

    @app.get("/message")
    def message() -> None:
        raise _Refused("shipment S1 was already received")

    @app.get("/rows")
    def rows() -> None:
        raise _Refused("row 2: bad", detail={"message": "row 2: bad", "errors": [{"row": 2}]})

    client = TestClient(app)
    r = client.get("/message")
    assert r.status_code == 409
    assert r.json() == {"detail": "shipment S1 was already received", "code": "test_refused"}
    r = client.get("/rows")
    assert r.json() == {
        "detail": {"message": "row 2: bad", "errors": [{"row": 2}]},
        "code": "test_refused",
    }


def test_every_product_error_has_a_status_and_a_unique_code():
    from nuanliu.app import create_app

    create_app()  # imports every domain's routes, flows and services, so every error type
    product = {c: k for c, k in errors.CODES.items() if not k.__module__.startswith("tests.")}
    assert len(product) >= 20, sorted(product)
    for code, cls in product.items():
        assert code.isidentifier() and code == code.lower(), code
        assert 400 <= cls.status < 500, (cls, cls.status)
