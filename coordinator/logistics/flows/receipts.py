"""Receipts: a station books what arrived line by line (every difference a discrepancy), may
correct it once within the hour, and a dispatcher acknowledges the discrepancies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import aware, utcnow
from coordinator.logistics import ledger, service
from coordinator.logistics.errors import (
    CorrectionWindowClosed,
    DiscrepancyNotFound,
    InvalidReceipt,
    ReceiptAlreadyCorrected,
    ShipmentAlreadyReceived,
    ShipmentNotReceived,
)
from coordinator.logistics.flows.common import actor_label, check_quantity
from coordinator.logistics.models import Discrepancy, Item, Shipment, ShipmentLine
from events.outbox import stage
from events.payloads import logistics as ev

#: a manager may correct a receipt once within this time; later only a dispatcher adjusts
CORRECTION_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class LineCount:
    """A station's count for one shipment line."""

    received: int
    damaged: int = 0
    note: str = ""


def _discrepancies_for(
    session: Session, shipment: Shipment, line: ShipmentLine, count: LineCount
) -> list[Discrepancy]:
    shipment_id = shipment.id
    assert shipment_id is not None
    found: list[Discrepancy] = []
    arrived = count.received + count.damaged

    def add(kind: str, quantity: int) -> None:
        found.append(
            Discrepancy(
                shipment_id=shipment_id,
                place_id=shipment.to_id,
                item_id=line.item_id,
                kind=kind,
                sent=line.quantity,
                received=count.received,
                quantity=quantity,
                note=count.note[:500],
            )
        )

    if arrived < line.quantity:
        add("short", line.quantity - arrived)
    if arrived > line.quantity:
        add("over", arrived - line.quantity)
    if count.damaged:
        add("damaged", count.damaged)
    return found


def _stage_discrepancies(session: Session, shipment: Shipment, found: list[Discrepancy]) -> None:
    for d in found:
        session.add(d)
    session.flush()
    for d in found:
        item = session.get(Item, d.item_id)
        assert d.id is not None and shipment.id is not None and item is not None
        stage(
            session,
            ev.DiscrepancyRecorded(
                discrepancy_id=d.id,
                shipment_id=shipment.id,
                short_code=shipment.short_code or "",
                station_id=shipment.to_id,
                sku=item.sku,
                kind=d.kind,
                sent=d.sent,
                received=d.received,
                quantity=d.quantity,
            ),
        )


def _match_counts(
    session: Session, lines: list[ShipmentLine], counts: dict[int, LineCount], *, partial: bool
) -> None:
    on_shipment = {line.item_id for line in lines}
    for item_id, count in counts.items():
        item = session.get(Item, item_id)
        name = item.sku if item else f"item {item_id}"
        if item_id not in on_shipment:
            raise InvalidReceipt(f"{name} is not on this shipment")
        check_quantity(count.received, f"the received count of {name}", allow_zero=True)
        check_quantity(count.damaged, f"the damaged count of {name}", allow_zero=True)
    if not partial:
        missing = [line.item_id for line in lines if line.item_id not in counts]
        if missing:
            skus = ", ".join(session.get(Item, i).sku for i in missing)  # type: ignore[union-attr]
            raise InvalidReceipt(f"every line needs a count; missing: {skus}")


def receive_shipment(
    *,
    session: Session,
    shipment_id: int,
    counts: dict[int, LineCount],
    actor: Actor | str,
    note: str = "",
    via: str = "page",
) -> Shipment:
    """Book a station's receipt, line by line: only what was received enters stock; every
    difference becomes a discrepancy for the dispatcher. A second receipt is refused (409)."""
    who = actor_label(actor)
    shipment = service.get_shipment(session=session, shipment_id=shipment_id, lock=True)
    if shipment.status != "in_transit":
        raise ShipmentAlreadyReceived(
            f"shipment {shipment.short_code} was already received"
            f" by {shipment.received_by} at {aware(shipment.received_at)}"
        )
    lines = service.shipment_lines(session=session, shipment_id=shipment_id)
    _match_counts(session, lines, counts, partial=False)
    found: list[Discrepancy] = []
    for line in lines:
        count = counts[line.item_id]
        line.received, line.damaged, line.note = count.received, count.damaged, count.note[:500]
        session.add(line)
        if count.received:
            ledger.record_movement(
                session=session,
                place_id=shipment.to_id,
                item_id=line.item_id,
                delta=count.received,
                kind="receipt",
                actor=who,
                reason=f"shipment {shipment.short_code}",
                shipment_id=shipment.id,
            )
        found += _discrepancies_for(session, shipment, line, count)
    shipment.status = "received"
    shipment.received_at = utcnow()
    shipment.received_by = who[:64]
    shipment.receipt_note = note[:500]
    shipment.received_via = via
    session.add(shipment)
    _stage_discrepancies(session, shipment, found)
    _stage_received(session, shipment, lines, len(found), via=via, corrected=False)
    record_audit(
        session=session,
        actor=actor,
        action="shipment.received",
        subject=shipment.short_code or "",
        detail={"via": via, "discrepancies": len(found)},
    )
    return shipment


def _stage_received(
    session: Session,
    shipment: Shipment,
    lines: list[ShipmentLine],
    discrepancies: int,
    *,
    via: str,
    corrected: bool,
) -> None:
    assert shipment.id is not None
    skus = {i.id: i.sku for i in session.exec(select(Item)).all()}
    stage(
        session,
        ev.ShipmentReceived(
            shipment_id=shipment.id,
            short_code=shipment.short_code or "",
            from_id=shipment.from_id,
            to_id=shipment.to_id,
            lines=[
                ev.ShipmentLine(sku=skus[li.item_id], quantity=li.quantity, received=li.received)
                for li in lines
            ],
            discrepancies=discrepancies,
            via=via,
            corrected=corrected,
        ),
    )


def correct_receipt(
    *,
    session: Session,
    shipment_id: int,
    counts: dict[int, LineCount],
    actor: Actor | str,
    note: str = "",
    now: datetime | None = None,
) -> Shipment:
    """A manager's one correction within an hour of the receipt; lines not named keep their
    counts. The stock moves by the difference (an adjustment naming the correction)."""
    who = actor_label(actor)
    now = now or utcnow()
    shipment = service.get_shipment(session=session, shipment_id=shipment_id, lock=True)
    if shipment.status != "received":
        raise ShipmentNotReceived(f"shipment {shipment.short_code} has not been received yet")
    if shipment.corrected_at is not None:
        raise ReceiptAlreadyCorrected(
            f"the receipt of {shipment.short_code} was already corrected once; "
            "ask a dispatcher for an adjustment"
        )
    received_at = aware(shipment.received_at)
    assert received_at is not None
    if now - received_at > CORRECTION_WINDOW:
        raise CorrectionWindowClosed(
            f"the receipt of {shipment.short_code} is more than an hour old; "
            "ask a dispatcher for an adjustment"
        )
    lines = service.shipment_lines(session=session, shipment_id=shipment_id)
    _match_counts(session, lines, counts, partial=True)
    if not counts:
        raise InvalidReceipt("a correction needs at least one line")
    for old in session.exec(
        select(Discrepancy).where(
            Discrepancy.shipment_id == shipment_id, col(Discrepancy.superseded).is_(False)
        )
    ):
        old.superseded = True
        session.add(old)
    found: list[Discrepancy] = []
    for line in lines:
        previous = line.received or 0
        count = counts.get(line.item_id) or LineCount(previous, line.damaged, line.note)
        diff = count.received - previous
        line.received, line.damaged, line.note = count.received, count.damaged, count.note[:500]
        session.add(line)
        if diff:
            ledger.record_movement(
                session=session,
                place_id=shipment.to_id,
                item_id=line.item_id,
                delta=diff,
                kind="adjustment",
                actor=who,
                reason=f"receipt correction {shipment.short_code}",
                shipment_id=shipment.id,
            )
        found += _discrepancies_for(session, shipment, line, count)
    shipment.corrected_at = now
    shipment.corrected_by = who[:64]
    if note:
        shipment.receipt_note = note[:500]
    session.add(shipment)
    _stage_discrepancies(session, shipment, found)
    _stage_received(session, shipment, lines, len(found), via="page", corrected=True)
    record_audit(
        session=session,
        actor=actor,
        action="shipment.receipt_corrected",
        subject=shipment.short_code or "",
        detail={"counts": {str(k): v.received for k, v in counts.items()}},
    )
    return shipment


def acknowledge_discrepancy(
    *, session: Session, discrepancy_id: int, actor: Actor | str
) -> Discrepancy:
    row = session.get(Discrepancy, discrepancy_id)
    if row is None:
        raise DiscrepancyNotFound(f"no discrepancy with id {discrepancy_id}")
    if row.acknowledged_at is None:
        row.acknowledged_at = utcnow()
        row.acknowledged_by = actor_label(actor)[:64]
        session.add(row)
        record_audit(
            session=session,
            actor=actor,
            action="discrepancy.acknowledged",
            subject=f"discrepancy:{discrepancy_id}",
        )
    return row
