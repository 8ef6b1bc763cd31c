"""A `Document` as a workbook (openpyxl): a sheet for the summary, one per table, numbers kept
as numbers with thousands separators, amounts in yuan. Text that starts like a formula gets an
apostrophe, so a title such as ``=HYPERLINK(...)`` is shown, never evaluated."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font

from coordinator.reports.document import Cell, Document, Kind

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS: dict[Kind, str] = {
    "int": "#,##0",
    "yuan": "#,##0.00",
    "share": "0.0%",
    "number": "#,##0.0",
    "text": "@",
}


def _value(value: Cell, kind: Kind) -> Cell:
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if kind == "yuan" and value is not None:
        return value / 100
    return value


def render(document: Document) -> bytes:
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "summary"
    summary.append([_value(document.title, "text")])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([_value(document.subtitle, "text")])
    for text in document.paragraphs:
        summary.append([_value(text, "text")])
    summary.column_dimensions["A"].width = 100
    for table in document.tables:
        sheet = book.create_sheet(table.name[:31])
        sheet.append([_value(table.title, "text")])
        sheet["A1"].font = Font(bold=True)
        sheet.append([name for name, _ in table.columns])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for r, row in enumerate(table.all_rows()):
            kinds = table.kinds(r)
            sheet.append([_value(v, k) for v, k in zip(row, kinds, strict=True)])
            for cell, kind in zip(sheet[sheet.max_row], kinds, strict=True):
                if kind != "text":
                    cell.number_format = FORMATS[kind]
        if table.total is not None:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
        for k, (name, _) in enumerate(table.columns):
            letter = sheet.cell(row=2, column=k + 1).column_letter
            sheet.column_dimensions[letter].width = max(10, min(40, len(name) * 2 + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
