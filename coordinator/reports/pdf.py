"""A `Document` as a PDF (reportlab), set in the CJK font of the settings: reportlab embeds
the glyphs it uses with a ToUnicode map, so the Chinese text can be read back out of the file
(the tests do, with pdfplumber)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable

from coordinator.reports.document import Document, Table
from coordinator.reports.errors import FontMissing

#: width of the text on an A4 page with 15 mm margins
WIDTH = A4[0] - 30 * mm


@lru_cache(maxsize=4)
def register_font(path: Path) -> str:
    """Register the CJK font once per process under a name of its own; the name."""
    if not path.is_file():
        raise FontMissing(
            f"the report font {path} is missing (NUANLIU_REPORT_FONT; Debian: "
            "apt-get install fonts-wqy-microhei)"
        )
    name = f"Report-{path.stem}"
    pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
    return name


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, alignment=TA_LEFT)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=23, spaceAfter=4),
        "subtitle": ParagraphStyle(
            "subtitle", parent=base, fontSize=9, textColor=colors.grey, spaceAfter=8
        ),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=17, spaceBefore=8),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
    }


def _table(table: Table, styles: dict[str, ParagraphStyle], font: str) -> PdfTable:
    cell = styles["cell"]
    head = [Paragraph(escape(name), cell) for name, _ in table.columns]
    body = [
        [text if number else Paragraph(escape(text), cell) for text, number in row]
        for row in table.shown()
    ]
    # numbers get a narrow column each, the text columns share what is left
    numeric = sum(kind != "text" for _, kind in table.columns)
    texts = len(table.columns) - numeric
    narrow = min(17 * mm, WIDTH * (0.72 if texts else 1.0) / max(numeric, 1))
    wide = (WIDTH - narrow * numeric) / texts if texts else narrow
    widths = [wide if kind == "text" else narrow for _, kind in table.columns]
    out = PdfTable([head, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    style = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c0")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    for k, (_, kind) in enumerate(table.columns):
        if kind != "text":
            style.append(("ALIGN", (k, 1), (k, -1), "RIGHT"))
    if table.total is not None:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f3f3f3")))
    out.setStyle(TableStyle(style))
    return out


def render(document: Document, *, font_path: Path) -> bytes:
    """The PDF bytes of `document`."""
    font = register_font(font_path)
    styles = _styles(font)
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=document.title,
        author="Nuanliu",
    )
    story: list = [
        Paragraph(escape(document.title), styles["title"]),
        Paragraph(escape(document.subtitle), styles["subtitle"]),
    ]
    for text in document.paragraphs:
        story += [Paragraph(escape(text), styles["body"]), Spacer(0, 4)]
    for table in document.tables:
        story += [Paragraph(escape(table.title), styles["h2"]), Spacer(0, 3)]
        story.append(_table(table, styles, font))
    for chart in document.charts:
        image = Image(io.BytesIO(chart.png))
        scale = WIDTH / image.drawWidth
        image.drawWidth, image.drawHeight = WIDTH, image.drawHeight * scale
        story.append(KeepTogether([Paragraph(escape(chart.title), styles["h2"]), image]))
    pdf.build(story)
    return buffer.getvalue()
