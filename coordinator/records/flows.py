"""Issuing certificates and handing out records, audited.

Re-issuing (a choice, documented in `models.Certificate`): the same volunteer and period with
the same hours and number of services gives back the certificate already issued, serial and
all, so printing a batch twice does not multiply serials. Hours that changed since (a
dispatcher's correction) give a new serial; the old row is marked superseded and its verify
page says a newer certificate replaced it.

Every hand-out of personal data writes an audit row: a certificate (one per request), a batch
(one row for the zip, with how many volunteers), an export of the records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from coordinator.accounts.service import Actor, actor_name, record_audit
from coordinator.records import service
from coordinator.records.errors import NothingServed
from coordinator.records.models import Certificate
from coordinator.records.service import Holder, Line, Period


@dataclass(frozen=True)
class Issued:
    """A certificate with what it is printed from."""

    certificate: Certificate
    holder: Holder
    lines: Sequence[Line]
    new: bool


def _matches(c: Certificate, mine: Sequence[Line]) -> bool:
    return c.hours == service.total_hours(mine) and c.tasks == len(mine)


def _row(
    holder: Holder, period: Period, mine: Sequence[Line], organisation: str, by: str
) -> Certificate:
    return Certificate(
        serial=service.new_serial(),
        volunteer_id=holder.id,
        period=period.key,
        period_label=period.label,
        served_from=mine[0].started_at,
        served_to=max(line.ended_at for line in mine),
        hours=service.total_hours(mine),
        tasks=len(mine),
        organisation=organisation,
        holder_masked=service.mask_name(holder.name),
        issued_by=by[:64],
    )


def _store(
    session: Session,
    wanted: Sequence[tuple[Holder, Sequence[Line]]],
    *,
    period: Period,
    organisation: str,
    by: str,
    now: datetime,
) -> list[Issued]:
    """Reuse or issue the current certificate of each (holder, lines) in one flush."""
    existing = service.current(
        session=session, period_key=period.key, volunteer_ids=[h.id for h, _ in wanted]
    )
    out: list[Issued] = []
    fresh: list[Certificate] = []
    with session.begin_nested():
        for holder, mine in wanted:
            before = existing.get(holder.id)
            if before is not None and _matches(before, mine):
                out.append(Issued(before, holder, mine, new=False))
                continue
            if before is not None:
                before.superseded_at = now
                session.add(before)
            row = _row(holder, period, mine, organisation, by)
            fresh.append(row)
            out.append(Issued(row, holder, mine, new=True))
        # the superseded rows first: the partial unique index allows one current row
        session.flush()
        session.add_all(fresh)
        session.flush()
    return out


def issue(
    *,
    session: Session,
    holder: Holder,
    period: Period,
    lines: Sequence[Line],
    organisation: str,
    actor: Actor | str,
    now: datetime,
) -> Issued:
    """The volunteer's certificate of the period (the one issued before while the hours are
    the same), audited as a hand-out. NothingServed without hours."""
    if not lines:
        raise NothingServed(
            f"volunteer {holder.id} has no hours served in {period.label}: no certificate"
        )
    try:
        [got] = _store(
            session,
            [(holder, lines)],
            period=period,
            organisation=organisation,
            by=actor_name(actor),
            now=now,
        )
    except IntegrityError:
        # issued at the same moment by another request: theirs is the current one
        [got] = _store(
            session,
            [(holder, lines)],
            period=period,
            organisation=organisation,
            by=actor_name(actor),
            now=now,
        )
    c = got.certificate
    record_audit(
        session=session,
        actor=actor,
        action="records.certificate_exported",
        subject=f"volunteer:{holder.id}",
        detail={"serial": c.serial, "period": period.key, "hours": c.hours, "new": got.new},
    )
    return got


def issue_many(
    *,
    session: Session,
    period: Period,
    lines: Mapping[int, Sequence[Line]],
    holders: Mapping[int, Holder],
    organisation: str,
    actor: Actor | str,
    now: datetime,
) -> list[Issued]:
    """Certificates for everyone with hours in `lines` (volunteer id → lines), in id order.
    Not audited here: a batch is audited once, by `record_batch`."""
    wanted = [(holders[vid], lines[vid]) for vid in sorted(lines) if lines[vid] and vid in holders]
    by = actor_name(actor)
    try:
        return _store(session, wanted, period=period, organisation=organisation, by=by, now=now)
    except IntegrityError:
        # another request issued some of them meanwhile: read theirs, issue the rest
        return _store(session, wanted, period=period, organisation=organisation, by=by, now=now)


def record_batch(
    *, session: Session, actor: Actor, period: Period, subject: str, volunteers: int
) -> None:
    """The audit row of a batch of certificates, written before the first is made: who took
    the certificates of which period, and of how many volunteers at most (those with ledger
    rows in it; each certificate row says who issued it)."""
    record_audit(
        session=session,
        actor=actor,
        action="records.certificates_exported",
        subject=subject,
        detail={"period": period.key, "volunteers": volunteers},
    )


def record_export(
    *,
    session: Session,
    actor: Actor,
    fmt: str,
    period: Period,
    rows: int,
    volunteers: int,
    masked: bool,
) -> None:
    """The audit row of an export of service records (who took whose data, and how much)."""
    record_audit(
        session=session,
        actor=actor,
        action="records.service_records_exported",
        subject=f"period:{period.key}",
        detail={
            "format": fmt,
            "period": period.key,
            "rows": rows,
            "volunteers": volunteers,
            "masked": masked,
        },
    )
