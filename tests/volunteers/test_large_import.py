"""A 20,000-row roster (the importer's most) through a real uvicorn server: every row stored,
and the API keeps answering while it is checked and written. An in-process TestClient
serialises requests, so it could not show a blocked event loop; uvicorn in a thread can."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from bench.serving import Served, serve
from coordinator.volunteers.importer import MAX_ROWS
from coordinator.volunteers.models import Volunteer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DISTRICTS = ("云岩区", "南明区", "花溪区", "乌当区", "白云区", "观山湖区")
#: /healthz must answer within this while an import runs, or within half the import's time
#: on a slow machine (an import on the event loop held every /healthz for all its 4-5 s; a
#: worker thread on a loaded 2-core CI box still slowed one to 1.2 s through the GIL). The
#: import itself is timed by `nuanliu bench sms`, not asserted here.
HEALTHZ_BUDGET_S = 1.0


def big_roster(rows: int = MAX_ROWS) -> bytes:
    """`rows` valid volunteers as a dispatcher's CSV (about 1.5 MB for 20,000): mainland
    mobile numbers 139 0000 0000 on, six districts, skills, language and 60 teams."""
    out = ["姓名,手机号,区县,技能,语言,队伍"]
    for i in range(rows):
        district = DISTRICTS[i % len(DISTRICTS)]
        out.append(f"志愿者{i:05d},139{i:08d},{district},除冰、急救,zh,{district}第{i % 10}队")
    return ("\n".join(out) + "\n").encode()


@pytest.fixture
def served(make_runtime: Any, districts: None) -> Iterator[Served]:
    s = serve(make_runtime(relay=False, consumers=()))
    yield s
    s.stop()


@pytest.fixture
def headers(engine: Engine) -> dict[str, str]:
    from coordinator.accounts.service import create_token

    with Session(engine) as s:
        token = create_token(session=s, role="dispatcher", label="big-roster")
        s.commit()
    return {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}


def stored(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Volunteer)).one())


class Probe:
    """GET /healthz over and over from a thread of its own; how long each answer took."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.took: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                r = http.get("/healthz")
                self.took.append(time.monotonic() - started)
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")
                time.sleep(0.05)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(35)


def test_20000_rows_are_stored_while_healthz_keeps_answering(
    served: Served, engine: Engine, headers: dict[str, str]
) -> None:
    data = big_roster()
    assert len(data) > 1024 * 1024  # more than the general body limit
    with httpx.Client(base_url=served.url, timeout=120) as http, Probe(served.url) as probe:
        time.sleep(0.3)
        started = time.monotonic()
        r = http.post("/api/volunteers/import", content=data, headers=headers)
        took = time.monotonic() - started
        time.sleep(0.3)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["rows"], body["created"], body["rejected"]) == (MAX_ROWS, MAX_ROWS, 0)
    assert stored(engine) == MAX_ROWS
    during = len(probe.took)
    assert during >= 5, f"only {during} health checks in {took:.1f} s"
    assert not probe.failures, probe.failures[:3]
    slowest = max(probe.took)
    ordered = sorted(probe.took)
    print(
        f"import of {MAX_ROWS} rows: {took:.2f} s; /healthz slowest {slowest * 1000:.0f} ms, "
        f"p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, n={len(ordered)}"
    )
    budget = max(HEALTHZ_BUDGET_S, took / 2)
    assert slowest < budget, f"/healthz took {slowest:.2f} s during a {took:.1f} s import"


def test_a_chunked_roster_over_the_limit_is_413_over_the_wire(
    served: Served, engine: Engine, headers: dict[str, str]
) -> None:
    """Sent with Transfer-Encoding: chunked (no Content-Length), refused once it passes the
    limit, and nothing stored."""
    limit = served.runtime.settings.import_max_bytes
    data = big_roster()
    repeats = limit // len(data) + 2

    def chunks() -> Iterator[bytes]:
        yield data
        for _ in range(repeats):
            yield data.split(b"\n", 1)[1]

    with httpx.Client(base_url=served.url, timeout=60) as http:
        r = http.post("/api/volunteers/import", content=chunks(), headers=headers)
    assert r.status_code == 413, r.text[:300]
    assert "NUANLIU_IMPORT_MAX_BYTES" in r.json()["detail"] and "16 MB" in r.json()["detail"]
    assert stored(engine) == 0
