"""Races on PostgreSQL: one receipt wins, hand-outs never overdraw, one plan approval."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from coordinator.logistics import errors, flows, ledger
from coordinator.logistics.flows import LineCount


def _race(n: int, work: Callable[[int], None]) -> list[BaseException | None]:
    barrier = threading.Barrier(n)
    results: list[BaseException | None] = [None] * n

    def run(k: int) -> None:
        barrier.wait()
        try:
            work(k)
        except BaseException as exc:
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_receipts_book_once(on_postgres: None, engine: Any, demo: None, places, skus):
    noodles = skus["FOOD-NOODLE"]
    with Session(engine, expire_on_commit=False) as s:
        shipment = flows.dispatch_shipment(
            session=s,
            from_id=places["warehouse"],
            to_id=places["a"],
            lines=[(noodles, 30)],
            actor="t",
        )
        s.commit()

    def receive(k: int) -> None:
        with Session(engine) as s:
            flows.receive_shipment(
                session=s,
                shipment_id=shipment.id or 0,
                counts={noodles: LineCount(30 - k)},
                actor=f"m{k}",
            )
            s.commit()

    results = _race(10, receive)
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, errors.ShipmentAlreadyReceived) for r in results if r is not None)
    with Session(engine) as s:
        booked = ledger.balance(session=s, place_id=places["a"], item_id=noodles)
        assert 21 <= booked <= 30 and ledger.breaches(session=s) == []


def test_racing_hand_outs_never_overdraw(on_postgres: None, engine: Any, demo: None, places, skus):
    water = skus["DRINK-WATER"]
    with Session(engine) as s:
        ledger.record_movement(
            session=s, place_id=places["b"], item_id=water, delta=100, kind="receipt", actor="t"
        )
        s.commit()

    def hand_out(k: int) -> None:
        with Session(engine) as s:
            flows.record_distribution(
                session=s, station_id=places["b"], item_id=water, quantity=15, actor=f"m{k}"
            )
            s.commit()

    results = _race(12, hand_out)
    assert sum(r is None for r in results) == 6  # 6 x 15 = 90 of 100
    assert all(isinstance(r, ledger.InsufficientStock) for r in results if r is not None)
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["b"], item_id=water) == 10
        assert ledger.breaches(session=s) == []


def test_a_burst_of_hand_outs_over_http_is_all_booked_and_none_turned_away(
    on_postgres: None, settings: Any, engine: Any, tokens: dict[str, str], places, skus
):
    """A station's whole queue at once, more hand-outs than the API has worker threads or
    database connections: every one is booked and answered, none told the server is busy.
    (A finished request used to keep its connection while it waited for a thread to check its
    answer, and with every thread waiting for a connection the API stood still until the pool
    timeout turned them away.)"""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from coordinator.process import Services
    from nuanliu.app import create_app

    water, burst = skus["DRINK-WATER"], 160
    with Session(engine) as s:
        ledger.record_movement(
            session=s, place_id=places["a"], item_id=water, delta=500, kind="receipt", actor="t"
        )
        s.commit()
    services = Services(settings=settings, engine=engine)
    headers = {"Authorization": f"Bearer {tokens['manager_a']}"}
    with TestClient(create_app(services=services)) as c:

        def hand_out(k: int) -> int:
            r = c.post(
                f"/api/stations/{places['a']}/distributions",
                json={"item": "DRINK-WATER", "quantity": 1, "note": f"traveller {k}"},
                headers=headers,
            )
            return r.status_code

        with ThreadPoolExecutor(burst) as pool:
            statuses = list(pool.map(hand_out, range(burst)))
    assert statuses == [201] * burst
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=water) == 500 - burst
        assert ledger.breaches(session=s) == []
