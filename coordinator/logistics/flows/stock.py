"""Stock that moves outside a shipment: hand-outs at a station (an emergency ticket is bought
on the spot and charged to the fund), a dispatcher's adjustments and write-offs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import aware, utcnow
from coordinator.logistics import fund, ledger, service
from coordinator.logistics.errors import (
    DistributionNotFound,
    HandOutAlreadyUndone,
    InvalidAdjustment,
    InvalidDistribution,
    UndoWindowClosed,
    UnknownItem,
)
from coordinator.logistics.flows.common import actor_label, check_quantity
from coordinator.logistics.models import Distribution, FundCharge, Item
from events.outbox import stage
from events.payloads import logistics as ev

#: the dearest emergency ticket the fund pays without a second look (fen)
MAX_TICKET_FEN = 1_000_000
#: a manager may take a hand-out back within this time (a wrong tile, a double tap); later
#: only a dispatcher's adjustment changes the stock
UNDO_WINDOW = timedelta(minutes=1)


def record_distribution(
    *,
    session: Session,
    station_id: int,
    item_id: int,
    quantity: int,
    actor: Actor | str,
    note: str = "",
    destination: str | None = None,
    cost_fen: int | None = None,
) -> Distribution:
    """Record a hand-out. Goods leave the station's stock (refused if there is not enough);
    an emergency ticket is bought on the spot: it needs a destination and a cost, charged to
    the fund (refused if the fund would be overdrawn)."""
    who = actor_label(actor)
    service.get_place(session=session, place_id=station_id, kind="station")
    item = session.get(Item, item_id)
    if item is None:
        raise UnknownItem(f"unknown item id {item_id}")
    check_quantity(quantity, f"the quantity of {item.sku}")
    is_ticket = item.category == "ticket"
    if is_ticket:
        if not destination or not destination.strip():
            raise InvalidDistribution("an emergency ticket needs a destination")
        if cost_fen is None:
            raise InvalidDistribution("an emergency ticket needs its cost in fen")
        if isinstance(cost_fen, bool) or cost_fen <= 0 or cost_fen > MAX_TICKET_FEN * quantity:
            raise InvalidDistribution(
                f"a ticket's cost must be between 1 and {MAX_TICKET_FEN} fen per ticket"
            )
    elif destination or cost_fen is not None:
        raise InvalidDistribution("only emergency tickets have a destination and a cost")
    row = Distribution(
        place_id=station_id,
        item_id=item_id,
        quantity=quantity,
        note=note[:500],
        destination=destination.strip()[:64] if destination else None,
        cost_fen=cost_fen,
        actor=who[:64],
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    if is_ticket:
        assert cost_fen is not None
        fund.charge_fund(
            session=session,
            amount_fen=cost_fen,
            kind="ticket",
            actor=who,
            reason=f"{quantity} ticket(s) to {row.destination}",
            distribution_id=row.id,
        )
    else:
        ledger.record_movement(
            session=session,
            place_id=station_id,
            item_id=item_id,
            delta=-quantity,
            kind="distribution",
            actor=who,
            reason=note or "hand-out",
            distribution_id=row.id,
        )
    stage(
        session,
        ev.DistributionRecorded(
            distribution_id=row.id,
            station_id=station_id,
            sku=item.sku,
            quantity=quantity,
            cost_fen=cost_fen,
            destination=row.destination,
        ),
    )
    record_audit(
        session=session,
        actor=actor,
        action="distribution.recorded",
        subject=f"station:{station_id}",
        detail={"sku": item.sku, "quantity": quantity, "cost_fen": cost_fen},
    )
    return row


def undo_distribution(
    *,
    session: Session,
    station_id: int,
    distribution_id: int,
    actor: Actor | str,
    now: datetime | None = None,
) -> Distribution:
    """Take a hand-out back within `UNDO_WINDOW` of its recording, once: the goods return to
    the shelf by a reversing movement, an emergency ticket's cost returns to the fund by a
    refund. Nothing recorded is changed but the hand-out's `undone_at`/`undone_by`."""
    who = actor_label(actor)
    now = now or utcnow()
    row = session.exec(
        select(Distribution)
        .where(Distribution.id == distribution_id, Distribution.place_id == station_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise DistributionNotFound(f"no hand-out {distribution_id} at station {station_id}")
    if row.undone_at is not None:
        raise HandOutAlreadyUndone(f"hand-out {distribution_id} was already taken back")
    recorded_at = aware(row.at)
    assert recorded_at is not None
    if now - recorded_at > UNDO_WINDOW:
        raise UndoWindowClosed(
            f"hand-out {distribution_id} is more than a minute old; ask a dispatcher for an "
            "adjustment"
        )
    item = session.get(Item, row.item_id)
    assert item is not None and row.id is not None
    refunded: int | None = None
    charge = session.exec(
        select(FundCharge).where(FundCharge.distribution_id == row.id, FundCharge.amount_fen > 0)
    ).first()
    reason = f"hand-out {row.id} undone"
    if charge is not None:
        fund.refund_charge(session=session, charge=charge, actor=who, reason=reason)
        refunded = charge.amount_fen
    else:
        ledger.record_movement(
            session=session,
            place_id=station_id,
            item_id=row.item_id,
            delta=row.quantity,
            kind="handout_undo",
            actor=who,
            reason=reason,
            distribution_id=row.id,
        )
    row.undone_at, row.undone_by = now, who[:64]
    session.add(row)
    stage(
        session,
        ev.DistributionUndone(
            distribution_id=row.id,
            station_id=station_id,
            sku=item.sku,
            quantity=row.quantity,
            refunded_fen=refunded,
        ),
    )
    record_audit(
        session=session,
        actor=actor,
        action="distribution.undone",
        subject=f"station:{station_id}",
        detail={"distribution_id": row.id, "sku": item.sku, "quantity": row.quantity},
    )
    return row


def adjust_stock(
    *,
    session: Session,
    place_id: int,
    item_id: int,
    delta: int,
    reason: str,
    actor: Actor | str,
    kind: str = "adjustment",
) -> None:
    """A dispatcher's correction (adjustment, either sign) or write-off (damage, expiry)."""
    if kind not in ("adjustment", "write_off"):
        raise InvalidAdjustment("kind must be adjustment or write_off")
    if not reason.strip():
        raise InvalidAdjustment("an adjustment needs a reason")
    service.get_place(session=session, place_id=place_id)
    ledger.record_movement(
        session=session,
        place_id=place_id,
        item_id=item_id,
        delta=-abs(delta) if kind == "write_off" else delta,
        kind=kind,
        actor=actor_label(actor),
        reason=reason,
    )
    record_audit(
        session=session,
        actor=actor,
        action=f"stock.{kind}",
        subject=f"place:{place_id}",
        detail={"item_id": item_id, "delta": delta, "reason": reason[:200]},
    )
