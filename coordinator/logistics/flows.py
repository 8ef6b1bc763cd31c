"""Logistics use cases. Each writes state, stages its events and audits in the caller's
transaction: shipments dispatched and received, receipts corrected, hand-outs, adjustments,
discrepancies acknowledged, resupply, plan approval."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import aware, mask_phone, utcnow
from coordinator.logistics import ledger, planning, service
from coordinator.logistics.models import (
    Discrepancy,
    Distribution,
    Item,
    Place,
    Plan,
    PlanLine,
    Shipment,
    ShipmentLine,
)
from coordinator.logistics.service import Conflict, LogisticsError
from events.outbox import stage
from events.payloads import logistics as ev

log = logging.getLogger(__name__)

#: a manager may correct a receipt once within this time; later only a dispatcher adjusts
CORRECTION_WINDOW = timedelta(hours=1)
#: a hand-out or shipment line above this is a typo, not a delivery
MAX_QUANTITY = ledger.MAX_MOVEMENT
#: the dearest emergency ticket the fund pays without a second look (fen)
MAX_TICKET_FEN = 1_000_000


def _who(actor: Actor | str) -> str:
    return actor if isinstance(actor, str) else f"{actor.role}:{actor.name}"


@dataclass(frozen=True)
class LineCount:
    """A station's count for one shipment line."""

    received: int
    damaged: int = 0
    note: str = ""


def _check_quantity(value: int, what: str, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LogisticsError(f"{what} must be a whole number")
    if value < 0 or (value == 0 and not allow_zero):
        raise LogisticsError(f"{what} must be {'zero or more' if allow_zero else 'positive'}")
    if value > MAX_QUANTITY:
        raise LogisticsError(f"{what} of {value} is more than the limit of {MAX_QUANTITY}")


# -- shipments --------------------------------------------------------------------------------
def _dispatch_sms(
    session: Session, shipment: Shipment, to: Place, lines: list[tuple[Item, int]]
) -> None:
    """Tell the station's managers what is coming and how to confirm it by SMS."""
    phones = service.manager_phones(to)
    if not phones:
        return
    from coordinator.sms import service as sms

    counts = " ".join(f"{item.short_name}{qty}" for item, qty in lines)
    body = (
        f"暖流发货{shipment.short_code}至{to.name_zh}: {counts}。"
        f"收货后回复 收 {shipment.short_code} 全 或逐项如 收 {shipment.short_code} {counts}"
    )
    for phone in phones:
        try:
            sms.queue_outbound(session=session, phone=phone, body=body, kind="shipment")
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
    who = _who(actor)
    source = service.get_place(session=session, place_id=from_id)
    dest = service.get_place(session=session, place_id=to_id)
    if source.id == dest.id:
        raise LogisticsError("a shipment must go to another place")
    if not lines:
        raise LogisticsError("a shipment needs at least one line")
    seen: set[int] = set()
    resolved: list[tuple[Item, int]] = []
    for item_id, quantity in lines:
        item = session.get(Item, item_id)
        if item is None:
            raise LogisticsError(f"unknown item id {item_id}")
        if item_id in seen:
            raise LogisticsError(f"{item.sku} appears twice in the shipment")
        seen.add(item_id)
        _check_quantity(quantity, f"the quantity of {item.sku}")
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
            raise LogisticsError(f"{name} is not on this shipment")
        _check_quantity(count.received, f"the received count of {name}", allow_zero=True)
        _check_quantity(count.damaged, f"the damaged count of {name}", allow_zero=True)
    if not partial:
        missing = [line.item_id for line in lines if line.item_id not in counts]
        if missing:
            skus = ", ".join(session.get(Item, i).sku for i in missing)  # type: ignore[union-attr]
            raise LogisticsError(f"every line needs a count; missing: {skus}")


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
    who = _who(actor)
    shipment = service.get_shipment(session=session, shipment_id=shipment_id, lock=True)
    if shipment.status != "in_transit":
        raise Conflict(
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
    who = _who(actor)
    now = now or utcnow()
    shipment = service.get_shipment(session=session, shipment_id=shipment_id, lock=True)
    if shipment.status != "received":
        raise Conflict(f"shipment {shipment.short_code} has not been received yet")
    if shipment.corrected_at is not None:
        raise Conflict(
            f"the receipt of {shipment.short_code} was already corrected once; "
            "ask a dispatcher for an adjustment"
        )
    received_at = aware(shipment.received_at)
    assert received_at is not None
    if now - received_at > CORRECTION_WINDOW:
        raise Conflict(
            f"the receipt of {shipment.short_code} is more than an hour old; "
            "ask a dispatcher for an adjustment"
        )
    lines = service.shipment_lines(session=session, shipment_id=shipment_id)
    _match_counts(session, lines, counts, partial=True)
    if not counts:
        raise LogisticsError("a correction needs at least one line")
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


# -- hand-outs and adjustments ----------------------------------------------------------------
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
    who = _who(actor)
    service.get_place(session=session, place_id=station_id, kind="station")
    item = session.get(Item, item_id)
    if item is None:
        raise LogisticsError(f"unknown item id {item_id}")
    _check_quantity(quantity, f"the quantity of {item.sku}")
    is_ticket = item.category == "ticket"
    if is_ticket:
        if not destination or not destination.strip():
            raise LogisticsError("an emergency ticket needs a destination")
        if cost_fen is None:
            raise LogisticsError("an emergency ticket needs its cost in fen")
        if isinstance(cost_fen, bool) or cost_fen <= 0 or cost_fen > MAX_TICKET_FEN * quantity:
            raise LogisticsError(
                f"a ticket's cost must be between 1 and {MAX_TICKET_FEN} fen per ticket"
            )
    elif destination or cost_fen is not None:
        raise LogisticsError("only emergency tickets have a destination and a cost")
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
        service.charge_fund(
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
        raise LogisticsError("kind must be adjustment or write_off")
    if not reason.strip():
        raise LogisticsError("an adjustment needs a reason")
    service.get_place(session=session, place_id=place_id)
    ledger.record_movement(
        session=session,
        place_id=place_id,
        item_id=item_id,
        delta=-abs(delta) if kind == "write_off" else delta,
        kind=kind,
        actor=_who(actor),
        reason=reason,
    )
    record_audit(
        session=session,
        actor=actor,
        action=f"stock.{kind}",
        subject=f"place:{place_id}",
        detail={"item_id": item_id, "delta": delta, "reason": reason[:200]},
    )


def acknowledge_discrepancy(
    *, session: Session, discrepancy_id: int, actor: Actor | str
) -> Discrepancy:
    row = session.get(Discrepancy, discrepancy_id)
    if row is None:
        raise service.NotFound(f"no discrepancy with id {discrepancy_id}")
    if row.acknowledged_at is None:
        row.acknowledged_at = utcnow()
        row.acknowledged_by = _who(actor)[:64]
        session.add(row)
        record_audit(
            session=session,
            actor=actor,
            action="discrepancy.acknowledged",
            subject=f"discrepancy:{discrepancy_id}",
        )
    return row


# -- resupply ---------------------------------------------------------------------------------
def buy_into_warehouse(
    *,
    session: Session,
    warehouse_id: int,
    item: Item,
    quantity: int,
    actor: Actor | str,
    reason: str,
    plan_id: int | None = None,
) -> None:
    """Buy `quantity` of `item` with the fund (refused if it would overdraw it) and book it
    into the warehouse."""
    assert item.id is not None
    cost = quantity * item.unit_cost_fen
    if cost:
        service.charge_fund(
            session=session,
            amount_fen=cost,
            kind="purchase",
            actor=_who(actor),
            reason=f"{quantity} {item.sku}: {reason}",
            plan_id=plan_id,
        )
    ledger.record_movement(
        session=session,
        place_id=warehouse_id,
        item_id=item.id,
        delta=quantity,
        kind="receipt",
        actor=_who(actor),
        reason=f"purchase: {reason}",
    )


def resupply_station(
    *,
    session: Session,
    station_id: int,
    actor: Actor | str = "provision",
    today: date | None = None,
    buy: bool = True,
) -> Shipment | None:
    """Top up every item below its reorder point at `station_id` to its target, from the
    central warehouse, unless that item is already on the way. What the warehouse lacks is
    bought with the fund (`buy`), keeping back what emergency tickets will need for the rest
    of the rush. None when nothing is needed or nothing can be had."""
    station = service.get_place(session=session, place_id=station_id, kind="station")
    warehouse = service.central_warehouse(session=session)
    assert warehouse.id is not None and station.id is not None
    coming = service.in_transit(session=session, to_id=station.id)
    budget: int | None = None
    lines: list[tuple[int, int]] = []
    for item_id, target in sorted(service.targets(session=session, station_id=station.id).items()):
        have = ledger.balance(session=session, place_id=station.id, item_id=item_id)
        if have >= target.reorder_point or coming.get(item_id, 0) > 0:
            continue
        need = target.target - have
        available = ledger.balance(session=session, place_id=warehouse.id, item_id=item_id)
        item = session.get(Item, item_id)
        assert item is not None
        if buy and available < need and item.unit_cost_fen > 0:
            if budget is None:
                # tickets home at every station come first: keep their expected cost back
                everyone = session.exec(select(Place.id).where(Place.kind == "station")).all()
                reserve = planning.ticket_reserve_fen(
                    session=session,
                    station_ids=[i for i in everyone if i is not None],
                    as_of=today or utcnow().date(),
                )
                budget = max(service.fund_remaining(session=session) - reserve, 0)
            units = min(need - available, budget // item.unit_cost_fen)
            if units > 0:
                buy_into_warehouse(
                    session=session,
                    warehouse_id=warehouse.id,
                    item=item,
                    quantity=units,
                    actor=actor,
                    reason=f"resupply of {station.code}",
                )
                budget -= units * item.unit_cost_fen
                available += units
        quantity = min(need, available)
        if quantity > 0:
            lines.append((item_id, quantity))
    if not lines:
        return None
    return dispatch_shipment(
        session=session,
        from_id=warehouse.id,
        to_id=station.id,
        lines=lines,
        actor=actor,
        origin="resupply",
    )


# -- supply plans -------------------------------------------------------------------------------
def propose_plan(
    *,
    session: Session,
    trigger: str,
    station_ids: list[int],
    as_of: date,
    actor: Actor | str,
    incident_id: int | None = None,
    target_days: float = planning.DEFAULT_TARGET_DAYS,
    demand_factor: float = 1.0,
) -> Plan:
    """Allocate the central warehouse across `station_ids` (max-min days of cover) and propose
    purchases within the fund, keeping back what emergency tickets will need. Stages
    `PlanProposed`; nothing moves until the plan is approved."""
    if not station_ids:
        raise LogisticsError("a plan needs at least one station")
    if not 0 < target_days <= 60:
        raise LogisticsError("target days of cover must be between 0 and 60")
    warehouse = service.central_warehouse(session=session)
    assert warehouse.id is not None
    reserve = planning.ticket_reserve_fen(session=session, station_ids=station_ids, as_of=as_of)
    budget = max(service.fund_remaining(session=session) - reserve, 0)
    inputs, stations, items = planning.load_inputs(
        session=session,
        station_ids=station_ids,
        warehouse_id=warehouse.id,
        as_of=as_of,
        target_days=target_days,
        budget_fen=budget,
        demand_factor=demand_factor,
    )
    if not stations:
        raise LogisticsError("none of those places is a station")
    result = planning.solve(inputs)
    _, baseline = planning.proportional_split(inputs)
    plan = Plan(
        trigger=trigger[:16],
        incident_id=incident_id,
        as_of=as_of,
        target_days=target_days,
        worst_coverage_days=round(result.worst_coverage_days, 4),
        baseline_worst_coverage_days=round(baseline, 4),
        purchase_fen=result.purchase_fen,
    )
    session.add(plan)
    session.flush()
    assert plan.id is not None
    for s, station in enumerate(stations):
        for i, item in enumerate(items):
            if inputs.demand[s, i] <= 0 and not result.allocate[s, i]:
                continue
            session.add(
                PlanLine(
                    plan_id=plan.id,
                    place_id=station.id or 0,
                    item_id=item.id or 0,
                    allocate=int(result.allocate[s, i]),
                    purchase=int(result.purchase[s, i]),
                    daily_demand=float(inputs.demand[s, i]),
                    coverage_days=float(result.coverage[s, i]),
                )
            )
    stage(
        session,
        ev.PlanProposed(
            plan_id=plan.id,
            incident_id=incident_id,
            stations=len(stations),
            worst_coverage_days=plan.worst_coverage_days,
            trigger=plan.trigger,
            purchase_fen=plan.purchase_fen,
        ),
    )
    record_audit(
        session=session,
        actor=actor,
        action="plan.proposed",
        subject=f"plan:{plan.id}",
        detail={
            "trigger": trigger,
            "stations": len(stations),
            "worst_coverage_days": plan.worst_coverage_days,
            "purchase_fen": plan.purchase_fen,
            "ticket_reserve_fen": reserve,
        },
    )
    return plan


def approve_plan(*, session: Session, plan_id: int, actor: Actor | str) -> list[Shipment]:
    """Approve a proposed plan: buy its purchases (charged to the fund, booked into the
    warehouse) and dispatch one shipment per station. A plan is approved once (409 after)."""
    who = _who(actor)
    plan = service.get_plan(session=session, plan_id=plan_id, lock=True)
    if plan.status != "proposed":
        raise Conflict(f"plan {plan_id} is already {plan.status}")
    assert plan.id is not None
    lines = service.plan_lines(session=session, plan_id=plan_id)
    warehouse = service.central_warehouse(session=session)
    assert warehouse.id is not None
    bought: dict[int, int] = {}
    for line in lines:
        if line.purchase:
            bought[line.item_id] = bought.get(line.item_id, 0) + line.purchase
    for item_id, quantity in sorted(bought.items()):
        item = session.get(Item, item_id)
        assert item is not None
        buy_into_warehouse(
            session=session,
            warehouse_id=warehouse.id,
            item=item,
            quantity=quantity,
            actor=actor,
            reason=f"plan {plan.id}",
            plan_id=plan.id,
        )
    by_station: dict[int, list[tuple[int, int]]] = {}
    for line in lines:
        quantity = line.allocate + line.purchase
        if quantity > 0:
            by_station.setdefault(line.place_id, []).append((line.item_id, quantity))
    shipments = [
        dispatch_shipment(
            session=session,
            from_id=warehouse.id,
            to_id=station_id,
            lines=station_lines,
            actor=actor,
            origin="plan",
            plan_id=plan.id,
        )
        for station_id, station_lines in sorted(by_station.items())
    ]
    plan.status = "approved"
    plan.approved_by = who[:64]
    plan.approved_at = utcnow()
    session.add(plan)
    stage(
        session,
        ev.PlanApproved(plan_id=plan.id, by=who, shipments=[s.id or 0 for s in shipments]),
    )
    record_audit(
        session=session,
        actor=actor,
        action="plan.approved",
        subject=f"plan:{plan.id}",
        detail={"shipments": [s.short_code for s in shipments]},
    )
    return shipments


def plan_for_incident(*, session: Session, incident_id: int) -> Plan | None:
    return session.exec(select(Plan).where(Plan.incident_id == incident_id)).first()
