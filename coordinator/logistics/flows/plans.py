"""Supply plans: the central warehouse allocated across stations (max-min days of cover) with
purchases within the fund, proposed and then approved into one shipment per station."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import utcnow
from coordinator.logistics import fund, planning, service
from coordinator.logistics.errors import InvalidPlan, PlanNotProposed
from coordinator.logistics.flows.common import actor_label
from coordinator.logistics.flows.resupply import buy_into_warehouse
from coordinator.logistics.flows.shipments import dispatch_shipment
from coordinator.logistics.models import Item, Plan, PlanLine, Shipment
from events.outbox import stage
from events.payloads import logistics as ev


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
        raise InvalidPlan("a plan needs at least one station")
    if not 0 < target_days <= 60:
        raise InvalidPlan("target days of cover must be between 0 and 60")
    warehouse = service.central_warehouse(session=session)
    assert warehouse.id is not None
    reserve = planning.ticket_reserve_fen(session=session, station_ids=station_ids, as_of=as_of)
    budget = max(fund.fund_remaining(session=session) - reserve, 0)
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
        raise InvalidPlan("none of those places is a station")
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
    who = actor_label(actor)
    plan = service.get_plan(session=session, plan_id=plan_id, lock=True)
    if plan.status != "proposed":
        raise PlanNotProposed(f"plan {plan_id} is already {plan.status}")
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
