"""The stock ledger: every change of stock is an append-only movement, and the balance per
place and item is a row updated under a lock in the same transaction.

PostgreSQL: the balance changes in one ``UPDATE … SET quantity = quantity + delta WHERE
quantity + delta >= 0 RETURNING quantity``, which takes the row lock and re-checks the condition
on the newest row if it had to wait, so concurrent writers neither lose an update nor overdraw
(the row is created first with ``INSERT … ON CONFLICT DO NOTHING`` so two first writers cannot
both insert). The lock is held until the transaction commits, so that UPDATE comes as late as it
can: at one busy shelf every statement between it and the commit is time the other hand-outs
wait. SQLite serialises writers (``coordinator.db`` begins every transaction IMMEDIATE), so the
same code is safe there.
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.errors import DomainError
from coordinator.invariants import Breach
from coordinator.logistics.models import (
    MOVEMENT_KINDS,
    Item,
    Place,
    StationTarget,
    StockBalance,
    StockMovement,
)
from events.outbox import stage
from events.payloads.logistics import StockChanged, StockLow

#: no single movement moves more than this: a typo of a few extra digits is refused, not booked
MAX_MOVEMENT = 1_000_000


class LedgerError(DomainError, ValueError):
    """A movement the ledger refuses; the message is one sentence for a person. Not a
    `LogisticsError`, which the provision consumer catches to skip what logistics refuses: a
    resupply that loses the race for the warehouse's last units fails its event, which is
    retried."""

    code = "invalid_movement"


class InsufficientStock(LedgerError):
    """A movement would take a balance below zero."""

    code = "insufficient_stock"

    def __init__(self, *, item: Item, place: Place, balance: int, requested: int) -> None:
        self.item = item
        self.place = place
        self.balance = balance
        self.requested = requested
        super().__init__(
            f"not enough {item.name_en} ({item.sku}) at {place.name_en}: "
            f"{balance} {item.unit} in stock, {requested} requested"
        )


def _ensure_balance_row(session: Session, place_id: int, item_id: int) -> None:
    values = {"place_id": place_id, "item_id": item_id, "quantity": 0, "updated_at": utcnow()}
    dialect = session.get_bind().dialect.name
    table = StockBalance.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        session.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())


def _add_to_balance(session: Session, place_id: int, item_id: int, delta: int) -> int | None:
    """Add `delta` to the balance row, locking it until the transaction ends; the new balance,
    or None (and nothing changed) when it would fall below zero."""
    change = (
        update(StockBalance)
        .where(
            col(StockBalance.place_id) == place_id,
            col(StockBalance.item_id) == item_id,
            col(StockBalance.quantity) + delta >= 0,
        )
        .values(quantity=col(StockBalance.quantity) + delta, updated_at=utcnow())
        .returning(col(StockBalance.quantity))
    )
    after = session.execute(change).scalar_one_or_none()
    if after is None:
        # no row matched: the first movement here (the row is made, then changed), or too
        # little stock (making it is a no-op and the change matches nothing again)
        _ensure_balance_row(session, place_id, item_id)
        after = session.execute(change).scalar_one_or_none()
    return None if after is None else int(after)


def balance(*, session: Session, place_id: int, item_id: int) -> int:
    """The current balance (0 when nothing was ever booked)."""
    value = session.exec(
        select(StockBalance.quantity).where(
            StockBalance.place_id == place_id, StockBalance.item_id == item_id
        )
    ).first()
    return int(value or 0)


def record_movement(
    *,
    session: Session,
    place_id: int,
    item_id: int,
    delta: int,
    kind: str,
    actor: str,
    reason: str = "",
    shipment_id: int | None = None,
    distribution_id: int | None = None,
) -> StockMovement:
    """Append a movement and update the balance in the caller's transaction.

    Refuses (:class:`LedgerError`) a zero or absurdly large delta, an unknown kind, a positive
    distribution or write-off, and anything that would make the balance negative
    (:class:`InsufficientStock`, naming the item, the stock and the request). Stages
    `StockChanged`, and `StockLow` when a station's stock falls below its reorder point.
    """
    if kind not in MOVEMENT_KINDS:
        raise LedgerError(f"unknown movement kind {kind!r}; expected one of {MOVEMENT_KINDS}")
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise LedgerError("a movement's quantity must be a whole number")
    if delta == 0:
        raise LedgerError("a movement of zero changes nothing")
    if abs(delta) > MAX_MOVEMENT:
        raise LedgerError(f"a movement of {abs(delta)} is more than the limit of {MAX_MOVEMENT}")
    if kind in ("distribution", "write_off", "transfer_out") and delta > 0:
        raise LedgerError(f"a {kind} takes stock away: its delta must be negative")
    if kind in ("receipt", "transfer_in", "handout_undo") and delta < 0:
        raise LedgerError(f"a {kind} adds stock: its delta must be positive")
    if kind == "adjustment" and not reason.strip():
        raise LedgerError("an adjustment needs a reason")
    item = session.get(Item, item_id)
    place = session.get(Place, place_id)
    if item is None or place is None:
        raise LedgerError(f"unknown {'item' if item is None else 'place'}")
    # read before the balance row is locked, so a busy shelf's lock waits on no extra query
    target = (
        session.exec(
            select(StationTarget).where(
                StationTarget.place_id == place_id, StationTarget.item_id == item_id
            )
        ).first()
        if delta < 0 and place.kind == "station"
        else None
    )
    after = _add_to_balance(session, place_id, item_id, delta)
    if after is None:
        raise InsufficientStock(
            item=item,
            place=place,
            balance=balance(session=session, place_id=place_id, item_id=item_id),
            requested=-delta,
        )
    movement = StockMovement(
        place_id=place_id,
        item_id=item_id,
        delta=delta,
        kind=kind,
        balance_after=after,
        actor=actor[:64],
        reason=reason[:256],
        shipment_id=shipment_id,
        distribution_id=distribution_id,
    )
    session.add(movement)
    session.flush()
    assert movement.id is not None
    stage(
        session,
        StockChanged(
            place_id=place_id,
            sku=item.sku,
            delta=delta,
            balance=after,
            kind=kind,
            movement_id=movement.id,
        ),
    )
    if target is not None and after < target.reorder_point:
        stage(
            session,
            StockLow(
                place_id=place_id,
                sku=item.sku,
                balance=after,
                reorder_point=target.reorder_point,
                target=target.target,
            ),
        )
    return movement


def movement_sum(*, session: Session, place_id: int, item_id: int) -> int:
    """The sum of every movement for (place, item): what the balance must equal."""
    value = session.exec(
        select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
            StockMovement.place_id == place_id, StockMovement.item_id == item_id
        )
    ).one()
    return int(value)


def breaches(*, session: Session) -> list[Breach]:
    """The ledger's invariants, for `nuanliu check`: every balance equals the sum of its
    movements and is not negative, and every (place, item) with movements has its balance row.

    A missing row is a breach even when the movements sum to zero, so that every reader would
    see 0 anyway: `record_movement` writes the row in the transaction of every movement and
    nothing deletes one, so movements without a row were written around the ledger or lost
    their row (a hand-made delete, one table restored without the other). That the numbers
    still agree is luck; the checker's job is to show the ledger's promise held. A row without
    movements is fine: it is the zero a refused first movement may leave."""
    sums: dict[tuple[int, int], int] = {
        (p, i): int(s)
        for p, i, s in session.exec(
            select(
                StockMovement.place_id, StockMovement.item_id, func.sum(StockMovement.delta)
            ).group_by(col(StockMovement.place_id), col(StockMovement.item_id))
        ).all()
    }
    out: list[Breach] = []
    seen: set[tuple[int, int]] = set()
    for row in session.exec(select(StockBalance)).all():
        key = (row.place_id, row.item_id)
        seen.add(key)
        subject = f"stock place {key[0]} item {key[1]}"
        if row.quantity < 0:
            out.append(Breach("stock_negative", subject, f"balance is {row.quantity}"))
        if row.quantity != sums.get(key, 0):
            out.append(
                Breach(
                    "stock_mismatch",
                    subject,
                    f"balance is {row.quantity} but its movements sum to {sums.get(key, 0)}",
                )
            )
    for key, total in sorted(sums.items()):
        if key not in seen:
            out.append(
                Breach(
                    "stock_mismatch",
                    f"stock place {key[0]} item {key[1]}",
                    f"movements sum to {total} but there is no balance row",
                )
            )
    return out
