"""A certificate (志愿服务证明) as a one-page A4 PDF: reportlab's canvas, the CJK font of the
reports (`NUANLIU_REPORT_FONT`, Debian's fonts-wqy-microhei, embedded as a subset with a
ToUnicode map, so the text can be read back out), and the QR code of its verify URL drawn
as vector squares from segno's matrix (no image library, sharp at any zoom).

One page always: the first `MAX_LINES` services are listed, the rest counted ("另有 N 项");
the full list is the service-record export. The canvas, not platypus: a batch of thousands
spends its time here, and a fixed layout needs no flowables."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from coordinator.records.models import Certificate
from coordinator.records.service import Holder, Line, shown_phone
from coordinator.reports.pdf import register_font

MAX_LINES = 14
REGULATION = "《志愿服务记录与证明出具办法（试行）》"


def verify_url(base_url: str, serial: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{serial}"


def _day(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.year}年{local.month}月{local.day}日"


def _hours(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _qr(c: Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code of `url` with its quiet zone, `size` points square, lower left at (x, y):
    one rectangle per run of dark modules in a row."""
    # a fixed mask: choosing the "best" of eight took most of a certificate's time, and any
    # mask is valid QR that every decoder reads
    qr = segno.make(url, error="m", micro=False, mask=4)
    matrix = qr.matrix
    border = 4
    modules = len(matrix) + 2 * border
    unit = size / modules
    c.setFillColor(colors.white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    # in module units, so every coordinate is a small integer (reportlab formats each number
    # it writes; thousands of fractional ones were a third of a certificate's time)
    c.saveState()
    c.translate(x, y + size)
    c.scale(unit, -unit)
    path = c.beginPath()
    for r, row in enumerate(matrix):
        col = 0
        while col < len(row):
            if row[col]:
                run = col
                while run < len(row) and row[run]:
                    run += 1
                path.rect(col + border, r + border, run - col, 1)
                col = run
            else:
                col += 1
    c.setFillColor(colors.black)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()


def render(
    *,
    certificate: Certificate,
    holder: Holder,
    lines: Sequence[Line],
    font_path: Path,
    tz: str,
    base_url: str,
) -> bytes:
    """The PDF of one certificate."""
    font = register_font(font_path)
    zone = ZoneInfo(tz)
    buffer = io.BytesIO()
    width, height = A4
    c = Canvas(buffer, pagesize=A4, pageCompression=1)
    c.setTitle(f"志愿服务证明 {certificate.serial}")
    c.setAuthor(certificate.organisation)
    c.setCreator("Nuanliu 暖流")
    left, right = 22 * mm, width - 22 * mm

    c.setStrokeColor(colors.HexColor("#9a2b2b"))
    c.setLineWidth(1.2)
    c.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm, stroke=1, fill=0)
    c.setFont(font, 26)
    c.drawCentredString(width / 2, height - 42 * mm, "志愿服务证明")
    c.setFont(font, 10)
    c.setFillColor(colors.grey)
    c.drawCentredString(width / 2, height - 50 * mm, f"证明编号：{certificate.serial}")
    c.setFillColor(colors.black)

    body = ParagraphStyle(
        "certificate", fontName=font, fontSize=13, leading=22, wordWrap="CJK", firstLineIndent=26
    )
    since, until = _day(certificate.served_from, zone), _day(certificate.served_to, zone)
    text = (
        f"兹证明 {escape(holder.name)}（手机号 {escape(shown_phone(holder.phone))}）"
        f"于 {since} 至 {until}，在{escape(certificate.period_label)}期间参加"
        f"{escape(certificate.organisation)}组织的志愿服务 {certificate.tasks} 项，"
        f"累计服务时长 {_hours(certificate.hours)} 小时。"
    )
    para = Paragraph(text, body)
    _, used = para.wrap(right - left, 60 * mm)
    top = height - 62 * mm
    para.drawOn(c, left, top - used)

    # the services: date, what, where, hours
    y = top - used - 12 * mm
    columns = [(left, "服务日期"), (left + 30 * mm, "服务项目"), (left + 85 * mm, "服务地点")]
    c.setFont(font, 10)
    c.setFillColor(colors.HexColor("#e8eef5"))
    c.rect(left, y - 2 * mm, right - left, 7 * mm, stroke=0, fill=1)
    c.setFillColor(colors.black)
    for x, name in columns:
        c.drawString(x + 1.5 * mm, y, name)
    c.drawRightString(right - 1.5 * mm, y, "时长（小时）")
    c.setFont(font, 9.5)
    for line in lines[:MAX_LINES]:
        y -= 7 * mm
        where = " ".join(part for part in (line.district, line.place) if part)
        c.drawString(left + 1.5 * mm, y, _day(line.started_at, zone))
        c.drawString(left + 31.5 * mm, y, line.title[:24])
        c.drawString(left + 86.5 * mm, y, where[:26])
        c.drawRightString(right - 1.5 * mm, y, _hours(line.hours))
    if len(lines) > MAX_LINES:
        y -= 7 * mm
        rest = lines[MAX_LINES:]
        c.drawString(
            left + 1.5 * mm,
            y,
            f"另有 {len(rest)} 项，共 {_hours(sum(x.hours for x in rest))} 小时，详见服务记录",
        )
    c.setStrokeColor(colors.HexColor("#b0b8c0"))
    c.setLineWidth(0.4)
    c.line(left, y - 3 * mm, right, y - 3 * mm)

    # who issues it, when, and how to check it
    url = verify_url(base_url, certificate.serial)
    qr_size = 34 * mm
    _qr(c, url, right - qr_size, 34 * mm, qr_size)
    c.setFont(font, 8)
    c.drawCentredString(right - qr_size / 2, 30 * mm, "扫码核验")
    c.setFont(font, 12)
    c.drawString(left, 62 * mm, f"出具单位：{certificate.organisation}")
    c.drawString(left, 54 * mm, f"出具日期：{_day(certificate.issued_at, zone)}")
    c.setFont(font, 8)
    c.setFillColor(colors.grey)
    c.drawString(left, 44 * mm, f"核验网址：{url}")
    c.drawString(left, 38 * mm, f"依据{REGULATION}出具。服务时长为实际服务时间，不含往返路途时间。")
    c.drawString(left, 33 * mm, "本证明经扫码或登录核验网址确认后有效。")
    c.showPage()
    c.save()
    return buffer.getvalue()
