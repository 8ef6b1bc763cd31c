"""Stock, movements and discrepancies as CSV or XLSX (written by `coordinator.sheets`, formula
injection defused).

Without a `lang` the columns keep the machine names scripts read (`place_code`, `sku`, …);
with `lang=zh` (the board's download buttons in Chinese) the headers, item and place names
and the kinds are Chinese, with `lang=en` English words, so a cadre opening the file in a
spreadsheet reads it without a key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from coordinator import sheets
from coordinator.logistics import errors, service
from coordinator.logistics.models import Item, Place, StockBalance

# kept under their old names: callers and tests import them from here
FORMULA_STARTS = sheets.FORMULA_STARTS
FORMATS = sheets.FORMATS
escape = sheets.escape
LANGS = ("zh", "en")

#: column key → (Chinese header, English header)
HEADERS: dict[str, tuple[str, str]] = {
    "id": ("编号", "ID"),
    "at": ("时间", "Time"),
    "place_code": ("地点编码", "Place code"),
    "place": ("地点", "Place"),
    "sku": ("物资编码", "SKU"),
    "item": ("物资", "Item"),
    "unit": ("单位", "Unit"),
    "quantity": ("数量", "Quantity"),
    "kind": ("类型", "Kind"),
    "delta": ("变动", "Change"),
    "balance_after": ("变动后结存", "Balance after"),
    "actor": ("操作人", "By"),
    "reason": ("原因", "Reason"),
    "shipment_id": ("运单编号", "Shipment"),
    "distribution_id": ("发放编号", "Hand-out"),
    "station_id": ("服务站编号", "Station"),
    "sent": ("发出", "Sent"),
    "received": ("实收", "Received"),
    "note": ("备注", "Note"),
    "created_at": ("记录时间", "Recorded at"),
    "acknowledged_by": ("确认人", "Acknowledged by"),
    "acknowledged_at": ("确认时间", "Acknowledged at"),
}
#: values of the `kind` columns (movements, discrepancies) → (Chinese, English)
KIND_WORDS: dict[str, tuple[str, str]] = {
    "receipt": ("收货", "receipt"),
    "distribution": ("发放", "hand-out"),
    "transfer_out": ("调出", "transfer out"),
    "transfer_in": ("调入", "transfer in"),
    "adjustment": ("盘点调整", "adjustment"),
    "write_off": ("报损", "write-off"),
    "short": ("短收", "short"),
    "over": ("多收", "over"),
    "damaged": ("破损", "damaged"),
}
#: item units → Chinese (the English is the unit's own name)
UNIT_ZH = {"piece": "件", "bottle": "瓶", "box": "盒", "pack": "包", "ticket": "张"}
SHEET_TITLES = {
    "stock": ("库存", "Stock"),
    "movements": ("库存变动", "Movements"),
    "discrepancies": ("收货差异", "Discrepancies"),
}

Rows = tuple[list[str], list[list[Any]]]


def _name(row: Place | Item, lang: str | None) -> str:
    return row.name_en if lang == "en" else row.name_zh


def stock_rows(*, session: Session, lang: str | None = None) -> Rows:
    places = {p.id: p for p in session.exec(select(Place)).all()}
    items = {i.id: i for i in session.exec(select(Item)).all()}
    header = ["place_code", "place", "sku", "item", "unit", "quantity"]
    rows = []
    for b in session.exec(
        select(StockBalance).order_by(col(StockBalance.place_id), col(StockBalance.item_id))
    ):
        place, item = places[b.place_id], items[b.item_id]
        unit = UNIT_ZH.get(item.unit, item.unit) if lang == "zh" else item.unit
        rows.append([place.code, _name(place, lang), item.sku, _name(item, lang), unit, b.quantity])
    return header, rows


def movement_rows(*, session: Session, lang: str | None = None) -> Rows:
    places = {p.id: p for p in session.exec(select(Place)).all()}
    names = _item_names(session, lang)
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
        place = places.get(m["place_id"])
        row[2] = place.code if place else m["place_id"]
        if lang is not None:  # names beside the codes, for a person reading the file
            row[3:4] = [m["sku"], names.get(m["sku"], m["sku"])]
            row[3:3] = [_name(place, lang) if place else ""]
        rows.append(row)
    header = ["id", "at", "place_code", *keys[3:]]
    if lang is not None:
        header[3:4] = ["place", "sku", "item"]
    return header, rows


def _item_names(session: Session, lang: str | None) -> dict[str, str]:
    return {i.sku: _name(i, lang) for i in session.exec(select(Item)).all()}


def discrepancy_rows(*, session: Session, lang: str | None = None) -> Rows:
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
    rows = [[d[k] for k in keys] for d in reversed(found)]
    if lang is None:
        return keys, rows
    # names beside the ids and codes, for a person reading the file
    places = {p.id: _name(p, lang) for p in session.exec(select(Place)).all()}
    names = _item_names(session, lang)
    for row in rows:
        row[3:4] = [row[3], names.get(row[3], row[3])]
        row[2:3] = [row[2], places.get(row[2], "")]
    header = [*keys[:3], "place", *keys[3:4], "item", *keys[4:]]
    return header, rows


EXPORTS: dict[str, Callable[..., Rows]] = {
    "stock": stock_rows,
    "movements": movement_rows,
    "discrepancies": discrepancy_rows,
}


def in_words(header: list[str], rows: list[list[Any]], lang: str) -> Rows:
    """The headers and the `kind` column in `lang`'s words."""
    pick = 0 if lang == "zh" else 1
    if "kind" in header:
        at = header.index("kind")
        for row in rows:
            words = KIND_WORDS.get(row[at])
            if words:
                row[at] = words[pick]
    return [HEADERS[h][pick] if h in HEADERS else h for h in header], rows


def export(*, session: Session, name: str, fmt: str, lang: str | None = None) -> bytes:
    """The export `name` (stock, movements, discrepancies) as `fmt` (csv, xlsx); `lang` (zh,
    en) for headers and names in words, none for the machine column names."""
    if name not in EXPORTS:
        raise errors.ExportNotFound(f"no export {name!r}; choose {', '.join(EXPORTS)}")
    if fmt not in FORMATS:
        raise errors.ExportNotFound(f"no format {fmt!r}; choose csv or xlsx")
    header, rows = EXPORTS[name](session=session, lang=lang)
    title = name
    if lang is not None:
        header, rows = in_words(header, rows, lang)
        title = SHEET_TITLES[name][0 if lang == "zh" else 1]
    return sheets.table_bytes(header, rows, fmt=fmt, title=title)
