"""Reading a report back the way a person's tools would: the PDF's text (pdfplumber) and the
workbook's cells (openpyxl)."""

from __future__ import annotations

import io
from typing import Any

import pdfplumber
from openpyxl import load_workbook


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF"), body[:40]
    with pdfplumber.open(io.BytesIO(body)) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def pdf_fonts(body: bytes) -> set[str]:
    with pdfplumber.open(io.BytesIO(body)) as pdf:
        return {c["fontname"] for page in pdf.pages for c in page.chars}


def sheets(body: bytes) -> dict[str, list[list[Any]]]:
    """Sheet name → its rows (values, formulas left as typed)."""
    book = load_workbook(io.BytesIO(body))
    return {
        ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets
    }


def table(rows: list[list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """A report sheet's header (row 2) and body (the title is row 1)."""
    return [str(h) for h in rows[1]], rows[2:]
