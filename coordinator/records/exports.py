"""Service records as CSV or XLSX, one row per service, with the Chinese column headers of
the national volunteer information system's bulk entry of service hours (志愿者姓名, 证件号码,
服务项目, 服务地点, 开始时间, 结束时间, 服务时长…), so a clerk can paste or upload them there.

Personal data: the phone number (11 digits for a mainland one) is masked unless an admin
exports; no ID number is held
(the roster keeps none), so 证件类型 and 证件号码 stay empty for the clerk to fill. Text cells
are defused against formula injection (the logistics exports' rule). The CSV is UTF-8 with a
byte-order mark: Excel, which most clerks open it in, reads Chinese correctly only so."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from coordinator.logistics.exports import escape
from coordinator.records.service import Holder, Line, shown_phone

HEADERS = (
    "志愿者姓名",
    "证件类型",
    "证件号码",
    "手机号",
    "服务项目",
    "服务地点",
    "开始时间",
    "结束时间",
    "服务时长(小时)",
    "记录单位",
    "备注",
)
FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: the ledger's flags as a remark a clerk understands
REMARKS = {
    "corrected": "已更正",
    "auto_closed": "未签退，按任务结束时间计",
    "capped": "签退晚于结束时间，按上限计",
    "early": "提前签到，自任务开始时间计",
}


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def rows(
    *,
    lines: Mapping[int, Sequence[Line]],
    holders: Mapping[int, Holder],
    organisation: str,
    tz: str,
    unmasked: bool,
) -> list[list[Any]]:
    """One row per service, by volunteer name and then time."""
    zone = ZoneInfo(tz)
    out: list[list[Any]] = []
    for vid in sorted(lines, key=lambda v: (holders[v].name if v in holders else "", v)):
        person = holders.get(vid)
        if person is None:
            continue
        phone = shown_phone(person.phone, unmasked=unmasked)
        for line in lines[vid]:
            where = " ".join(part for part in (line.district, line.place) if part)
            remark = "；".join(REMARKS[f] for f in line.flags if f in REMARKS)
            out.append(
                [
                    person.name,
                    "",
                    "",
                    phone,
                    line.title,
                    where,
                    _when(line.started_at, zone),
                    _when(line.ended_at, zone),
                    line.hours,
                    organisation,
                    remark,
                ]
            )
    return out


def to_csv(table: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in table:
        writer.writerow([escape(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: Iterable[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("志愿服务记录")
    sheet.append(list(HEADERS))
    for row in table:
        sheet.append([escape(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
