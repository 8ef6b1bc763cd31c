"""The campaign fund's book: the open fund, what is left of it, and charges. A charge locks the
fund's row and refuses an overdraft in the caller's transaction, as the ledger does for stock
(`spent_fen` never passes `budget_fen`; a check constraint says so too)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from coordinator.logistics.errors import FundExhausted, InvalidQuantity, NoOpenFund
from coordinator.logistics.models import Fund, FundCharge


def active_fund(*, session: Session, lock: bool = False) -> Fund:
    query = select(Fund).where(col(Fund.active).is_(True)).order_by(col(Fund.id).desc())
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    fund = session.exec(query).first()
    if fund is None:
        raise NoOpenFund("no campaign fund is open")
    return fund


def fund_remaining(*, session: Session) -> int:
    try:
        fund = active_fund(session=session)
    except NoOpenFund:
        return 0
    return fund.budget_fen - fund.spent_fen


def charge_fund(
    *,
    session: Session,
    amount_fen: int,
    kind: str,
    actor: str,
    reason: str = "",
    distribution_id: int | None = None,
    plan_id: int | None = None,
) -> FundCharge:
    """Charge the open fund in the caller's transaction (row-locked); refuses an overdraft."""
    if amount_fen <= 0:
        raise InvalidQuantity("a charge must be a positive amount of fen")
    fund = active_fund(session=session, lock=True)
    remaining = fund.budget_fen - fund.spent_fen
    if amount_fen > remaining:
        raise FundExhausted(
            f"the fund has {remaining / 100:.2f} yuan left; "
            f"{amount_fen / 100:.2f} yuan would overdraw it"
        )
    fund.spent_fen += amount_fen
    session.add(fund)
    assert fund.id is not None
    charge = FundCharge(
        fund_id=fund.id,
        amount_fen=amount_fen,
        kind=kind,
        reason=reason[:256],
        actor=actor[:64],
        distribution_id=distribution_id,
        plan_id=plan_id,
    )
    session.add(charge)
    session.flush()
    return charge


def refund_charge(*, session: Session, charge: FundCharge, actor: str, reason: str) -> FundCharge:
    """Give a charge back to its fund in the caller's transaction: a new row of the same kind
    with the negative amount (the charge itself stays, so the book still says what happened),
    the fund's spent amount lowered under its row lock. Refuses a charge that is itself a
    refund."""
    if charge.amount_fen <= 0:
        raise InvalidQuantity("only a positive charge can be refunded")
    fund = session.exec(
        select(Fund)
        .where(Fund.id == charge.fund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    fund.spent_fen -= charge.amount_fen
    session.add(fund)
    refund = FundCharge(
        fund_id=charge.fund_id,
        amount_fen=-charge.amount_fen,
        # the charge's own kind, so spending by kind nets the refund out
        kind=charge.kind,
        reason=reason[:256],
        actor=actor[:64],
        distribution_id=charge.distribution_id,
        plan_id=charge.plan_id,
    )
    session.add(refund)
    session.flush()
    return refund
