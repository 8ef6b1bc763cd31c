"""Stock, movements and discrepancies as CSV or XLSX, with spreadsheet formula injection
defused: a text cell starting with =, +, -, @ (or a tab or carriage return) gets a leading
apostrophe, so a note such as ``=HYPERLINK(...)`` is shown, never evaluated."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook
from sqlmodel import Session, col, select

from coordinator.logistics import errors, service
from coordinator.logistics.models import Item, Place, StockBalance

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")


def escape(value: Any) -> Any:
    """A cell value safe for a spreadsheet (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def stock_rows(*, session: Session) -> tuple[list[str], list[list[Any]]]:
    places = {p.id: p for p in session.exec(select(Place)).all()}
    items = {i.id: i for i in session.exec(select(Item)).all()}
    header = ["place_code", "place", "sku", "item", "unit", "quantity"]
    rows = []
    for b in session.exec(
        select(StockBalance).order_by(col(StockBalance.place_id), col(StockBalance.item_id))
    ):
        place, item = places[b.place_id], items[b.item_id]
        rows.append([place.code, place.name_zh, item.sku, item.name_zh, item.unit, b.quantity])
    return header, rows


def movement_rows(*, session: Session) -> tuple[list[str], list[list[Any]]]:
    places = {p.id: p.code for p in session.exec(select(Place)).all()}
    keys = [
        "id",
        "at",
        "place_id",
        "sku",
        "kind",
        "delta",
        "balance_after",
        "actor",
        "reason",
        "shipment_id",
        "distribution_id",
    ]
    rows = []
    for movement in reversed(service.stock_history(session=session, limit=1_000_000)):
        m = movement.model_dump(mode="json")  # times as the API answers them
        row = [m[k] for k in keys]
        row[2] = places.get(m["place_id"], m["place_id"])
        rows.append(row)
    return ["id", "at", "place_code", *keys[3:]], rows


def discrepancy_rows(*, session: Session) -> tuple[list[str], list[list[Any]]]:
    keys = [
        "id",
        "shipment_id",
        "station_id",
        "sku",
        "kind",
        "sent",
        "received",
        "quantity",
        "note",
        "created_at",
        "acknowledged_by",
        "acknowledged_at",
    ]
    found = [d.model_dump(mode="json") for d in service.list_discrepancies(session=session)]
    return keys, [[d[k] for k in keys] for d in reversed(found)]


EXPORTS: dict[str, Callable[..., tuple[list[str], list[list[Any]]]]] = {
    "stock": stock_rows,
    "movements": movement_rows,
    "discrepancies": discrepancy_rows,
}


def export(*, session: Session, name: str, fmt: str) -> bytes:
    """The export `name` (stock, movements, discrepancies) as `fmt` (csv, xlsx)."""
    if name not in EXPORTS:
        raise errors.ExportNotFound(f"no export {name!r}; choose {', '.join(EXPORTS)}")
    if fmt not in FORMATS:
        raise errors.ExportNotFound(f"no format {fmt!r}; choose csv or xlsx")
    header, rows = EXPORTS[name](session=session)
    safe = [[escape(v) for v in row] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(safe)
        # a BOM so that spreadsheet programs read the Chinese names as UTF-8
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = name
    sheet.append(header)
    for row in safe:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
