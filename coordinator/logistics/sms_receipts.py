"""Receipts confirmed by SMS, for a station manager with a weak signal and no time for a page.

`收 S123 全` (or `RCV S123 ALL`) confirms every line as sent; `收 S123 面95 水40` gives a count per
item short name. Booked exactly as the page books it (`flows.receive_shipment`), and answered
with what was booked. Anything ambiguous (an unknown code or item, a line without a count, a
count given twice, words we cannot read) is answered with a question and books nothing. Only
the station's registered manager phones may confirm its shipments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from coordinator.logistics import errors, flows, ledger, service
from coordinator.logistics.flows import LineCount
from coordinator.logistics.models import Item, Shipment
from coordinator.sms import service as sms
from coordinator.sms.replies import Reply
from coordinator.sms.templates import render

ALL_WORDS = {"全", "全部", "全收", "齐", "ALL", "OK"}
_COUNT_RE = re.compile(r"([^\d\s,;:.、，；：。]+?)\s*(\d+)")
_SEPARATORS = re.compile(r"[\s,;:.、，；：。]+")


@dataclass(frozen=True)
class Outcome:
    """What happened to a receipt text: `booked`, `question`, `refused` or `ignored`, and the
    answer texted back: a template of `sms.templates` and its values (None for ignored)."""

    status: str
    template: str | None
    shipment_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str | None:
        """The answer as the phone shows it."""
        return render(self.template, "zh", **self.params) if self.template else None


def _lines_text(session: Session, shipment: Shipment, *, received: bool) -> str:
    parts = []
    for line in service.shipment_lines(session=session, shipment_id=shipment.id or 0):
        item = session.get(Item, line.item_id)
        assert item is not None
        parts.append(f"{item.short_name}{line.received if received else line.quantity}")
    return " ".join(parts)


def parse_counts(rest: str, *, names: dict[str, int]) -> dict[int, int] | str:
    """`面95 水40` → item id → count, or a question (str) when anything is unclear. `names`
    maps upper-cased short names to item ids."""
    found: dict[int, int] = {}
    consumed = _COUNT_RE.sub(" ", rest)
    if _SEPARATORS.sub("", consumed):
        return f"看不懂“{_SEPARATORS.sub(' ', consumed).strip()}”"
    for match in _COUNT_RE.finditer(rest):
        name, raw = match.group(1).strip().upper(), match.group(2)
        item_id = names.get(name)
        if item_id is None:
            return f"本货单里没有“{name}”"
        if item_id in found:
            return f"“{name}”报了两次"
        count = int(raw)
        if count > ledger.MAX_MOVEMENT:
            return f"“{name}{raw}”数量过大"
        found[item_id] = count
    if not found:
        return "没有数量"
    return found


def handle_receipt_sms(*, session: Session, phone: str, reply: Reply) -> Outcome:
    """Book (or question) a receipt text from `phone` (`reply`, as the parser read it) inside
    the caller's transaction and queue the answer. Texts that are not receipts are ignored."""
    if reply.intent != "receipt" or not reply.code:
        return Outcome("ignored", None)
    code = reply.code if reply.code.startswith("S") else f"S{reply.code}"
    station = service.station_for_phone(session=session, phone=phone)
    if station is None:
        return _answer(session, phone, Outcome("refused", "receipt_not_manager"))
    shipment = service.shipment_by_code(session=session, short_code=code)
    if shipment is None:
        return _answer(
            session,
            phone,
            Outcome("question", "receipt_unknown_shipment", params={"code": code}),
        )
    if shipment.to_id != station.id:
        return _answer(
            session,
            phone,
            Outcome(
                "refused",
                "receipt_wrong_station",
                params={"code": code, "station": station.name_zh},
            ),
        )
    if shipment.status != "in_transit":
        return _answer(
            session,
            phone,
            Outcome("refused", "receipt_already", shipment.id, {"code": code}),
        )
    sent = _lines_text(session, shipment, received=False)
    lines = service.shipment_lines(session=session, shipment_id=shipment.id or 0)
    rest = reply.rest.strip()
    counts: dict[int, LineCount]
    if rest in ALL_WORDS:
        counts = {line.item_id: LineCount(line.quantity) for line in lines}
    else:
        names = {}
        for line in lines:
            item = session.get(Item, line.item_id)
            assert item is not None
            names[item.short_name.upper()] = line.item_id
        parsed = parse_counts(rest, names=names)
        if isinstance(parsed, str):
            return _ask(session, phone, shipment, parsed, sent)
        missing = [n for n, item_id in names.items() if item_id not in parsed]
        if missing:
            return _ask(session, phone, shipment, f"“{'、'.join(missing)}”没有数量", sent)
        counts = {item_id: LineCount(n) for item_id, n in parsed.items()}
    savepoint = session.begin_nested()
    try:
        flows.receive_shipment(
            session=session,
            shipment_id=shipment.id or 0,
            counts=counts,
            actor=f"sms:{phone}",
            via="sms",
        )
    except (errors.LogisticsError, ledger.LedgerError) as exc:
        savepoint.rollback()
        return _ask(session, phone, shipment, str(exc), sent)
    savepoint.commit()
    booked = _lines_text(session, shipment, received=True)
    short = [
        f"{session.get(Item, line.item_id).short_name}{line.quantity - (line.received or 0)}"  # type: ignore[union-attr]
        for line in lines
        if (line.received or 0) < line.quantity
    ]
    if short:
        answer = Outcome(
            "booked",
            "receipt_booked_short",
            shipment.id,
            {"code": code, "booked": booked, "short": " ".join(short)},
        )
    else:
        answer = Outcome("booked", "receipt_booked", shipment.id, {"code": code, "booked": booked})
    return _answer(session, phone, answer)


def _ask(session: Session, phone: str, shipment: Shipment, why: str, sent: str) -> Outcome:
    code = shipment.short_code or f"S{shipment.id}"
    return _answer(
        session,
        phone,
        Outcome(
            "question", "receipt_question", shipment.id, {"code": code, "why": why, "sent": sent}
        ),
    )


def _answer(session: Session, phone: str, outcome: Outcome) -> Outcome:
    if outcome.template:
        sms.queue_template(
            session=session,
            phone=phone,
            template=outcome.template,
            kind="receipt",
            **outcome.params,
        )
    return outcome
