"""Tables as CSV or XLSX downloads, with spreadsheet formula injection defused: a text cell
starting with =, +, -, @ (or a tab or carriage return) gets a leading apostrophe, so a note
such as ``=HYPERLINK(...)`` is shown, never evaluated. Shared by every domain's exports (the
kernel: it knows no domain)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def escape(value: Any) -> Any:
    """A cell value safe for a spreadsheet (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def table_bytes(
    header: Sequence[str], rows: Sequence[Sequence[Any]], *, fmt: str, title: str
) -> bytes:
    """`header` and `rows` as a CSV (UTF-8 with a BOM, so that spreadsheet programs read
    Chinese as UTF-8) or an XLSX whose one sheet is called `title`; every cell escaped."""
    safe = [[escape(v) for v in row] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([escape(h) for h in header])
        writer.writerows(safe)
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    if fmt != "xlsx":
        raise ValueError(f"no format {fmt!r}")
    from openpyxl import Workbook  # heavy (~0.1 s to import); only XLSX downloads need it

    # write-only: rows streamed to the file, not kept as cell objects (a roster of 3,448
    # volunteers took 2.2 s the ordinary way)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])  # Excel's limit for a sheet name
    sheet.append([escape(h) for h in header])
    for row in safe:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
