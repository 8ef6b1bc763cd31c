"""The roster import's own body limit (`NUANLIU_IMPORT_MAX_BYTES`): larger than every other
route's, and a 413 over it that says the limit, announced by Content-Length or sent chunked,
with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from coordinator.accounts.models import AuditLog
from coordinator.config import Settings
from coordinator.volunteers.models import Volunteer
from events.embedded import EmbeddedBroker
from nuanliu.app import size_in_words

GENERAL = 16 * 1024
ROSTER = 64 * 1024


@pytest.fixture
def api(
    settings: Settings, engine: Engine, broker: EmbeddedBroker, districts: None
) -> Iterator[SimpleNamespace]:
    from coordinator.accounts.service import create_token
    from coordinator.process import Services
    from nuanliu.app import create_app

    with Session(engine) as s:
        token = create_token(session=s, role="dispatcher", label="limits")
        s.commit()
    settings = settings.model_copy(update={"max_body_bytes": GENERAL, "import_max_bytes": ROSTER})
    services = Services(settings=settings, engine=engine)
    with TestClient(create_app(services=services, bootstrap=broker.bootstrap)) as client:
        yield SimpleNamespace(client=client, headers={"Authorization": f"Bearer {token}"})


def roster_csv(size: int) -> bytes:
    """A valid roster CSV of at least `size` bytes."""
    lines = ["name,phone,district"]
    total, i = 0, 0
    while total < size:
        line = f"志愿者{i},1390{i:07d},云岩区"
        lines.append(line)
        total += len(line.encode()) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()


def stored(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Volunteer)).one())


def audited(engine: Engine) -> int:
    with Session(engine) as s:
        query = select(func.count()).select_from(AuditLog)
        return int(s.exec(query.where(AuditLog.action == "volunteers.imported")).one())


def test_sizes_in_words() -> None:
    assert size_in_words(16 * 1024 * 1024) == "16 MB"
    assert size_in_words(1536 * 1024) == "1.5 MB"
    assert size_in_words(64 * 1024) == "64 KB"
    assert size_in_words(100) == "100 bytes"


def test_a_roster_larger_than_the_general_limit_is_imported(
    api: SimpleNamespace, engine: Engine
) -> None:
    data = roster_csv(GENERAL * 3)
    assert GENERAL < len(data) < ROSTER
    r = api.client.post(
        "/api/volunteers/import",
        content=data,
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 0 and r.json()["created"] == stored(engine) > 1000


def _chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("how", ["content-length", "chunked", "multipart"])
def test_a_roster_over_its_limit_is_413_naming_the_limit(
    api: SimpleNamespace, engine: Engine, how: str
) -> None:
    data = roster_csv(ROSTER + 1)
    kwargs: dict[str, Any] = {
        "content-length": {"content": data, "headers": {"Content-Type": "text/csv"}},
        # an iterator is sent without a Content-Length: counted as it is read
        "chunked": {"content": _chunks(data), "headers": {"Content-Type": "text/csv"}},
        "multipart": {"files": {"file": ("名单.csv", data, "text/csv")}},
    }[how]
    headers = {**api.headers, **kwargs.pop("headers", {})}
    r = api.client.post("/api/volunteers/import", headers=headers, **kwargs)
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert "64 KB" in detail and "NUANLIU_IMPORT_MAX_BYTES" in detail and "名册" in detail
    assert stored(engine) == 0 and audited(engine) == 0


def test_other_routes_keep_the_general_limit_and_say_it(
    api: SimpleNamespace, engine: Engine
) -> None:
    big = {"name": "x" * (GENERAL + 1), "phone": "13800138000", "district": "云岩区"}
    for content in (None, _chunks(str(big).encode())):
        kwargs: dict[str, Any] = {"json": big} if content is None else {"content": content}
        r = api.client.post("/api/volunteers", headers=api.headers, **kwargs)
        assert r.status_code == 413, r.text
        detail = r.json()["detail"]
        assert "16 KB" in detail and "NUANLIU_MAX_BODY_BYTES" in detail
    assert stored(engine) == 0


def test_an_announced_oversize_is_refused_before_authentication(api: SimpleNamespace) -> None:
    r = api.client.post(
        "/api/volunteers/import",
        content=roster_csv(ROSTER + 1),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 413 and "X-Request-ID" in r.headers


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUANLIU_IMPORT_MAX_BYTES", "1048576")
    assert Settings().import_max_bytes == 1024 * 1024
    monkeypatch.setenv("NUANLIU_IMPORT_MAX_BYTES", "-1")
    with pytest.raises(ValueError, match="NUANLIU_IMPORT_MAX_BYTES"):
        Settings()
    monkeypatch.delenv("NUANLIU_IMPORT_MAX_BYTES")
    assert Settings().import_max_bytes == 16 * 1024 * 1024
