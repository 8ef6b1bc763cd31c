"""Shipments dispatched: stock leaves the origin now (transfer_out) and the destination's
managers are told by SMS what is coming and how to confirm it."""

from __future__ import annotations

import logging

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import mask_phone
from coordinator.logistics import ledger, service
from coordinator.logistics.errors import InvalidShipment, UnknownItem
from coordinator.logistics.flows.common import actor_label, check_quantity
from coordinator.logistics.models import Item, Place, Shipment, ShipmentLine
from coordinator.sms import service as sms
from events.outbox import stage
from events.payloads import logistics as ev

log = logging.getLogger(__name__)


def _dispatch_sms(
    session: Session, shipment: Shipment, to: Place, lines: list[tuple[Item, int]]
) -> None:
    """Tell the station's managers what is coming and how to confirm it by SMS."""
    phones = service.manager_phones(to)
    if not phones:
        return
    counts = " ".join(f"{item.short_name}{qty}" for item, qty in lines)
    # the example of a count per item: the first line, short by none (the manager edits it)
    example = f"{lines[0][0].short_name}{lines[0][1]}" if lines else ""
    for phone in phones:
        try:
            sms.queue_template(
                session=session,
                phone=phone,
                template="shipment",
                code=shipment.short_code,
                counts=counts,
                example=example,
            )
        except ValueError as exc:  # a bad number must not stop the shipment
            masked = mask_phone(phone)  # the reason repeats the number as it was written
            reason = str(exc).replace(phone, masked)
            log.warning("cannot text %s about %s: %s", masked, shipment.short_code, reason)


def dispatch_shipment(
    *,
    session: Session,
    from_id: int,
    to_id: int,
    lines: list[tuple[int, int]],
    actor: Actor | str,
    origin: str = "manual",
    plan_id: int | None = None,
) -> Shipment:
    """Send `lines` (item id, quantity) from one place to another: the stock leaves the origin
    now (transfer_out), enters the destination when the station confirms it."""
    who = actor_label(actor)
    source = service.get_place(session=session, place_id=from_id)
    dest = service.get_place(session=session, place_id=to_id)
    if source.id == dest.id:
        raise InvalidShipment("a shipment must go to another place")
    if not lines:
        raise InvalidShipment("a shipment needs at least one line")
    seen: set[int] = set()
    resolved: list[tuple[Item, int]] = []
    for item_id, quantity in lines:
        item = session.get(Item, item_id)
        if item is None:
            raise UnknownItem(f"unknown item id {item_id}")
        if item_id in seen:
            raise InvalidShipment(f"{item.sku} appears twice in the shipment")
        seen.add(item_id)
        check_quantity(quantity, f"the quantity of {item.sku}")
        resolved.append((item, quantity))
    shipment = Shipment(
        from_id=from_id, to_id=to_id, origin=origin, plan_id=plan_id, created_by=who[:64]
    )
    session.add(shipment)
    session.flush()
    assert shipment.id is not None
    shipment.short_code = f"S{shipment.id}"
    session.add(shipment)
    for item, quantity in resolved:
        assert item.id is not None
        session.add(ShipmentLine(shipment_id=shipment.id, item_id=item.id, quantity=quantity))
        ledger.record_movement(
            session=session,
            place_id=from_id,
            item_id=item.id,
            delta=-quantity,
            kind="transfer_out",
            actor=who,
            reason=f"shipment {shipment.short_code} to {dest.code}",
            shipment_id=shipment.id,
        )
    session.flush()
    stage(
        session,
        ev.ShipmentDispatched(
            shipment_id=shipment.id,
            short_code=shipment.short_code,
            from_id=from_id,
            to_id=to_id,
            lines=[ev.ShipmentLine(sku=i.sku, quantity=q) for i, q in resolved],
            origin=origin,
            plan_id=plan_id,
        ),
    )
    record_audit(
        session=session,
        actor=actor,
        action="shipment.dispatched",
        subject=shipment.short_code,
        detail={"to_id": to_id, "lines": {i.sku: q for i, q in resolved}},
    )
    if dest.kind == "station":
        _dispatch_sms(session, shipment, dest, resolved)
    return shipment
