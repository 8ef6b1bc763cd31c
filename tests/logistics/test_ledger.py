"""The stock ledger: balance = sum of movements, never negative, no lost update."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from coordinator.logistics import ledger
from coordinator.logistics.models import StationTarget, StockBalance, StockMovement
from events.outbox import OutboxEvent
from tests.logistics.factories import make_item, make_place

OPS = st.lists(
    st.tuples(
        st.sampled_from(["receipt", "distribution", "write_off", "adjustment"]),
        st.integers(min_value=1, max_value=60),
        st.booleans(),
    ),
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_balance_is_sum_of_movements_and_never_negative(engine: Any, ops: list[Any]) -> None:
    with Session(engine, expire_on_commit=False) as s:
        place = make_place(s)
        item = make_item(s)
        s.commit()
    expected = 0
    for kind, qty, up in ops:
        delta = qty if kind == "receipt" or (kind == "adjustment" and up) else -qty
        with Session(engine, expire_on_commit=False) as s:
            try:
                ledger.record_movement(
                    session=s,
                    place_id=place.id,
                    item_id=item.id,
                    delta=delta,
                    kind=kind,
                    actor="test",
                    reason="count",
                )
                s.commit()
                expected += delta
            except ledger.InsufficientStock as exc:
                s.rollback()
                assert expected + delta < 0
                assert item.sku in str(exc) and str(expected) in str(exc)
        assert expected >= 0
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=place.id, item_id=item.id) == expected
        assert ledger.movement_sum(session=s, place_id=place.id, item_id=item.id) == expected
        assert ledger.breaches(session=s) == []


@pytest.mark.parametrize(
    ("kind", "delta", "reason", "message"),
    [
        ("receipt", 0, "", "zero"),
        ("receipt", 10**9, "", "limit"),
        ("distribution", 5, "", "negative"),
        ("receipt", -5, "", "positive"),
        ("adjustment", 5, "  ", "reason"),
        ("teleport", 5, "", "unknown movement kind"),
    ],
)
def test_bad_movements_are_refused_with_a_clear_message(
    session: Session, kind: str, delta: int, reason: str, message: str
) -> None:
    place = make_place(session)
    item = make_item(session)
    with pytest.raises(ledger.LedgerError, match=message):
        ledger.record_movement(
            session=session,
            place_id=place.id,  # type: ignore[arg-type]
            item_id=item.id,  # type: ignore[arg-type]
            delta=delta,
            kind=kind,
            actor="t",
            reason=reason,
        )


def test_overdraw_names_item_stock_and_request(session: Session) -> None:
    place = make_place(session)
    item = make_item(session)
    assert place.id and item.id
    ledger.record_movement(
        session=session, place_id=place.id, item_id=item.id, delta=3, kind="receipt", actor="t"
    )
    with pytest.raises(ledger.InsufficientStock) as info:
        ledger.record_movement(
            session=session,
            place_id=place.id,
            item_id=item.id,
            delta=-5,
            kind="distribution",
            actor="t",
        )
    assert str(info.value) == (
        f"not enough {item.name_en} ({item.sku}) at {place.name_en}: 3 piece in stock, 5 requested"
    )


def test_stock_low_is_staged_below_the_reorder_point(session: Session) -> None:
    place = make_place(session)
    item = make_item(session)
    assert place.id and item.id
    session.add(StationTarget(place_id=place.id, item_id=item.id, target=50, reorder_point=10))
    ledger.record_movement(
        session=session, place_id=place.id, item_id=item.id, delta=20, kind="receipt", actor="t"
    )
    ledger.record_movement(
        session=session,
        place_id=place.id,
        item_id=item.id,
        delta=-5,
        kind="distribution",
        actor="t",
    )
    session.flush()
    low = session.exec(select(OutboxEvent).where(OutboxEvent.type == "nuanliu.stock.low")).all()
    assert low == []
    ledger.record_movement(
        session=session,
        place_id=place.id,
        item_id=item.id,
        delta=-6,
        kind="distribution",
        actor="t",
    )
    session.flush()
    low = session.exec(select(OutboxEvent).where(OutboxEvent.type == "nuanliu.stock.low")).all()
    assert len(low) == 1 and '"balance": 9' in low[0].data


def test_concurrent_receipts_and_distributions_lose_no_update(
    on_postgres: None, engine: Any
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        place = make_place(s)
        item = make_item(s)
        ledger.record_movement(
            session=s, place_id=place.id, item_id=item.id, delta=100, kind="receipt", actor="t"
        )
        s.commit()
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            with Session(engine) as s:
                ledger.record_movement(
                    session=s,
                    place_id=place.id,  # type: ignore[arg-type]
                    item_id=item.id,  # type: ignore[arg-type]
                    delta=7 if n % 2 else -3,
                    kind="receipt" if n % 2 else "distribution",
                    actor=f"w{n}",
                )
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as s:
        assert (
            ledger.balance(session=s, place_id=place.id, item_id=item.id) == 100 + 25 * 7 - 25 * 3
        )
        rows = s.exec(select(StockMovement).where(StockMovement.item_id == item.id)).all()
        assert len(rows) == 51
        assert ledger.breaches(session=s) == []


def _movement(s: Session, place_id: int, item_id: int, delta: int, kind: str) -> None:
    """A movement written around the ledger (no balance row touched), as a bad script would."""
    s.add(
        StockMovement(
            place_id=place_id,
            item_id=item_id,
            delta=delta,
            kind=kind,
            balance_after=0,
            actor="planted",
        )
    )
    s.flush()


def test_movements_without_a_balance_row_are_a_breach_even_when_they_sum_to_zero(engine):
    """`nuanliu check` used to let this pass (a missing row reads as 0, like the sum) while
    `ledger.breaches` reported it; the ledger writes the row with every movement, so its
    absence is the breach, whatever the sum."""
    from nuanliu.check import check

    with Session(engine) as s:
        place, item = make_place(s), make_item(s)
        _movement(s, place.id, item.id, 3, "receipt")
        _movement(s, place.id, item.id, -3, "distribution")
        [breach] = ledger.breaches(session=s)
        assert (breach.rule, breach.subject) == (
            "stock_mismatch",
            f"stock place {place.id} item {item.id}",
        )
        assert breach.message == "movements sum to 0 but there is no balance row"
        # the checker runs the ledger's rule: one rule, one answer
        assert [b for b in check(session=s) if b.rule.startswith("stock_")] == [breach]


def test_a_balance_row_without_movements_is_no_breach(engine):
    """A refused first movement may leave its zero row behind: the numbers agree."""
    with Session(engine) as s:
        place, item = make_place(s), make_item(s)
        s.add(StockBalance(place_id=place.id, item_id=item.id, quantity=0))
        s.flush()
        assert ledger.breaches(session=s) == []
