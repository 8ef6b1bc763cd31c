"""The logistics invariants `nuanliu check` runs (`RULES`): the ledger's own (balances equal
their movements: `ledger.breaches`, beside the ledger), a shipment received once, and a fund's
spent amount the sum of its charges and within its budget."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from coordinator.invariants import Breach, Rule
from coordinator.logistics import ledger
from coordinator.logistics.models import Fund, FundCharge, Shipment, StockMovement


def shipments_received_twice(*, session: Session) -> list[Breach]:
    """Two receipt movements for one line of one shipment, or receipts on a shipment that is
    still on the road."""
    out: list[Breach] = []
    rows = session.exec(
        select(StockMovement.shipment_id, StockMovement.item_id, func.count(col(StockMovement.id)))
        .where(StockMovement.kind == "receipt", col(StockMovement.shipment_id).is_not(None))
        .group_by(col(StockMovement.shipment_id), col(StockMovement.item_id))
        .having(func.count(col(StockMovement.id)) > 1)
    ).all()
    for sid, item_id, n in rows:
        out.append(
            Breach(
                "shipment_received_twice",
                f"shipment {sid}",
                f"item {item_id} was booked in {n} times",
            )
        )
    pending = session.exec(
        select(Shipment.id)
        .join(StockMovement, col(StockMovement.shipment_id) == Shipment.id)
        .where(Shipment.status == "in_transit", StockMovement.kind == "receipt")
        .distinct()
    ).all()
    for sid in pending:
        out.append(
            Breach(
                "shipment_received_twice",
                f"shipment {sid}",
                "has receipt movements but is still marked in transit",
            )
        )
    return out


def fund_balances(*, session: Session) -> list[Breach]:
    """A fund's spent amount that differs from the sum of its charges, or exceeds its budget."""
    sums: dict[int, int] = {
        fid: int(s)
        for fid, s in session.exec(
            select(FundCharge.fund_id, func.sum(FundCharge.amount_fen)).group_by(
                col(FundCharge.fund_id)
            )
        ).all()
    }
    out: list[Breach] = []
    for fund in session.exec(select(Fund)).all():
        total = sums.get(fund.id or 0, 0)
        subject = f"fund {fund.id} ({fund.name} {fund.year})"
        if fund.spent_fen != total:
            out.append(
                Breach(
                    "fund_mismatch",
                    subject,
                    f"spent is {fund.spent_fen} fen but its charges sum to {total} fen",
                )
            )
        if fund.spent_fen > fund.budget_fen:
            out.append(
                Breach(
                    "fund_overdrawn",
                    subject,
                    f"spent {fund.spent_fen} fen of a {fund.budget_fen} fen budget",
                )
            )
    return out


#: in the order `nuanliu check` reports them
RULES: tuple[Rule, ...] = (ledger.breaches, shipments_received_twice, fund_balances)
