"""Roster import from CSV (UTF-8 with or without BOM, or GB18030 as Excel writes it in China)
or XLSX (openpyxl, read-only).

Policy: **valid rows are imported, every other row is reported** with its row number (the
header is row 1), column and reason. A dispatcher with a 3,000-row sheet wants the good rows in
and a list of the few to fix, not nothing at all. A problem with the file itself (not CSV/XLSX,
undecodable, wrong columns, too many rows) imports nothing. Duplicates by phone (in the file or
already on the roster) are reported, never stored twice. Cell text is stored as text: a cell
like `=HYPERLINK(...)` is a string, never evaluated (XLSX formulas are read as their formula
text, not their cached value).
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, insert
from sqlmodel import Session

from coordinator.common import mask_phone
from coordinator.volunteers import skills as expiring
from coordinator.volunteers.errors import ImportFileError, InvalidVolunteer
from coordinator.volunteers.models import ImportResult, RowError, Volunteer, VolunteerCreate
from coordinator.volunteers.service import (
    Resolver,
    existing_phones,
    skill_expiry_of,
    split_skills,
    volunteer_values,
)

COLUMNS = ("name", "phone", "district", "skills", "language", "team", "lat", "lon")
REQUIRED = ("name", "phone")
#: the columns as a Chinese header names them, for the refusals' Chinese words
COLUMN_ZH = {
    "name": "姓名",
    "phone": "手机号",
    "district": "区县",
    "skills": "技能",
    "language": "语言",
    "team": "队伍",
    "lat": "纬度",
    "lon": "经度",
}
#: header spellings people use → our column names
HEADER_ALIASES = {
    "姓名": "name",
    "名字": "name",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "mobile": "phone",
    "区县": "district",
    "区": "district",
    "所在区": "district",
    "技能": "skills",
    "skill": "skills",
    "语言": "language",
    "lang": "language",
    "队伍": "team",
    "团队": "team",
    "服务队": "team",
    "纬度": "lat",
    "latitude": "lat",
    "经度": "lon",
    "lng": "lon",
    "longitude": "lon",
}
MAX_ROWS = 20_000
#: valid rows inserted per statement (one transaction for the whole file all the same)
INSERT_ROWS = 1_000
#: A worker thread running pure Python keeps the GIL for up to the switch interval (5 ms)
#: each time the event loop wants it back, and a request wants it back many times. Handing it
#: over (`time.sleep(0)`) after this many seconds of work took the slowest /healthz during a
#: 20,000-row import from 200-410 ms to 90-270 ms (median about the same), for ~10 % of the
#: import's time.
YIELD_S = 0.002
MAX_CELL_CHARS = 1_000
#: an XLSX is a zip; refuse one that would inflate past this (a zip bomb)
MAX_XLSX_UNCOMPRESSED = 64 * 1024 * 1024
VOLUNTEERS: Table = Volunteer.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Row:
    number: int
    cells: dict[str, str]


def read_rows(data: bytes, filename: str = "") -> Iterator[Row]:
    """The data rows of a CSV or XLSX file as column → text. Raises ImportFileError."""
    if data.startswith(b"PK\x03\x04") or filename.lower().endswith(".xlsx"):
        return _xlsx_rows(data)
    return _csv_rows(data)


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise ImportFileError(
            "the file contains NUL bytes: not a CSV file", zh="文件含有空字节，不是 CSV 文件"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"the file is neither UTF-8 nor GB18030 text (bad byte at offset {exc.start})",
            zh=f"文件既不是 UTF-8 也不是 GB18030 文本（第 {exc.start} 个字节有误）",
        ) from None


def _header(cells: list[Any]) -> list[str]:
    names = []
    for cell in cells:
        raw = unicodedata.normalize("NFKC", str(cell or "")).strip().lower()
        names.append(HEADER_ALIASES.get(raw, raw))
    present = [n for n in names if n]
    unknown = [n for n in present if n not in COLUMNS]
    missing = [n for n in REQUIRED if n not in present]
    dupes = sorted({n for n in present if present.count(n) > 1})
    problems, problems_zh = [], []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
        problems_zh.append(f"缺少列：{'、'.join(COLUMN_ZH[n] for n in missing)}")
    if unknown:
        shown = [u[:40] for u in unknown[:10]]
        problems.append(f"unknown column(s): {', '.join(shown)}")
        problems_zh.append(f"不认识的列：{'、'.join(shown)}")
    if dupes:
        problems.append(f"repeated column(s): {', '.join(dupes)}")
        problems_zh.append(f"重复的列：{'、'.join(COLUMN_ZH.get(n, n) for n in dupes)}")
    if "district" not in present and not {"lat", "lon"} <= set(present):
        problems.append("need a district column or lat and lon columns")
        problems_zh.append("需要区县列，或纬度和经度两列")
    if problems:
        raise ImportFileError(
            f"{'; '.join(problems)} (expected: {', '.join(COLUMNS)})",
            zh=f"{'；'.join(problems_zh)}（应有的列：{'、'.join(COLUMN_ZH.values())}）",
        )
    return names


def _csv_rows(data: bytes) -> Iterator[Row]:
    text = _decode(data)
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(
            f"malformed CSV in the header: {exc}", zh="表头不是规范的 CSV"
        ) from None
    if header is None:
        raise ImportFileError("the file is empty", zh="文件是空的")
    names = _header(header)
    return _csv_data(reader, names)


def _csv_data(reader: Any, names: list[str]) -> Iterator[Row]:
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(
                f"malformed CSV at line {reader.line_num}: {exc}",
                zh=f"第 {reader.line_num} 行不是规范的 CSV",
            ) from None
        count += 1
        if count > MAX_ROWS:
            raise ImportFileError(
                f"more than {MAX_ROWS} rows; split the file",
                zh=f"超过 {MAX_ROWS} 行，请拆分文件",
            )
        yield _row(count + 1, names, cells)  # as a spreadsheet numbers it: header is 1


def _row(number: int, names: list[str], cells: list[Any]) -> Row:
    out: dict[str, str] = {}
    for i, value in enumerate(cells):
        text = _cell_text(value)
        if i >= len(names) or not names[i]:
            if text.strip():
                out["_extra"] = text
            continue
        out[names[i]] = text
    return Row(number, out)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))  # Excel keeps phone numbers as numbers: 13800138000.0
    return str(value)


def _xlsx_rows(data: bytes) -> Iterator[Row]:
    from openpyxl import load_workbook  # heavy (~0.1 s to import); only XLSX uploads need it

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ImportFileError(
            "not a valid XLSX file (bad zip)", zh="不是有效的 XLSX 文件"
        ) from None
    if total > MAX_XLSX_UNCOMPRESSED:
        raise ImportFileError(
            "the XLSX file inflates to more than 64 MB; refusing it",
            zh="XLSX 文件解压后超过 64 MB，不予导入",
        )
    try:
        # data_only=False: a formula cell is read as its formula text, never evaluated
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise ImportFileError(
            f"not a readable XLSX file: {type(exc).__name__}", zh="XLSX 文件无法读取"
        ) from None
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        raise ImportFileError("the workbook has no sheet", zh="工作簿里没有工作表")
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise ImportFileError("the sheet is empty", zh="工作表是空的")
    names = _header(list(header))
    return _xlsx_data(book, rows, names)


def _xlsx_data(book: Any, rows: Iterator[tuple[Any, ...]], names: list[str]) -> Iterator[Row]:
    try:
        for index, cells in enumerate(rows, start=2):
            if index - 1 > MAX_ROWS:
                raise ImportFileError(
                    f"more than {MAX_ROWS} rows; split the file",
                    zh=f"超过 {MAX_ROWS} 行，请拆分文件",
                )
            yield _row(index, names, list(cells))
    finally:
        book.close()


def _number(value: str, column: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise InvalidVolunteer(
            column, f"{text[:20]!r} is not a number", zh=f"“{text[:20]}”不是数字"
        ) from None
    if not math.isfinite(number):
        raise InvalidVolunteer(column, "must be a finite number", zh="应为有限的数字")
    return number


def _to_create(cells: dict[str, str]) -> VolunteerCreate:
    if "_extra" in cells:
        raise InvalidVolunteer(
            None, "more cells than columns in the header", zh="这一行的格子比表头的列多"
        )
    for column, value in cells.items():
        if len(value) > MAX_CELL_CHARS:
            raise InvalidVolunteer(
                column,
                f"longer than {MAX_CELL_CHARS} characters",
                zh=f"超过 {MAX_CELL_CHARS} 个字符",
            )
    # the phone is checked before anything else, because it identifies the row
    phone = re.sub(r"[\s\-()（）]", "", cells.get("phone", ""))
    if len(phone) > 20:
        raise InvalidVolunteer("phone", "phone number is too long", zh="手机号太长")
    try:
        return VolunteerCreate(
            name=cells.get("name", ""),
            phone=phone,
            district=cells.get("district") or None,
            lat=_number(cells.get("lat", ""), "lat"),
            lon=_number(cells.get("lon", ""), "lon"),
            skills=split_skills(cells.get("skills")),
            language=cells.get("language") or "zh",
            team=cells.get("team") or None,
        )
    except ValidationError as exc:  # pragma: no cover - every field above is a str/float
        raise InvalidVolunteer(None, str(exc)) from None


def import_volunteers(
    *, session: Session, data: bytes, filename: str = "", dry_run: bool = False
) -> ImportResult:
    """Validate every row, insert the valid ones in the caller's transaction (unless
    `dry_run`), `INSERT_ROWS` at a time, and report the rest. Nothing is committed here: the
    whole file goes in with the caller's commit or not at all. Raises ImportFileError for a
    file that cannot be read at all.

    Meant for a worker thread (the route runs it in one); it hands the GIL over every
    `YIELD_S` so that the event loop's requests are not slowed by it."""
    resolver = Resolver(session)
    valid: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    expiries: dict[str, dict[str, Any]] = {}
    rows = 0
    next_yield = time.monotonic() + YIELD_S
    for row in read_rows(data, filename):
        if not any(v.strip() for v in row.cells.values()):
            continue  # blank lines between blocks are common in hand-made sheets
        rows += 1
        if time.monotonic() > next_yield:
            time.sleep(0)
            next_yield = time.monotonic() + YIELD_S
        try:
            wanted = _to_create(row.cells)
            values = volunteer_values(wanted, resolver) | {"source": "import"}
            # `急救:2027-03-01` in the skills cell: the certificate's last day (issue 15)
            expiry = skill_expiry_of(wanted)
        except InvalidVolunteer as exc:
            errors.append(
                RowError(row=row.number, column=exc.column, message=exc.message, zh=exc.zh)
            )
            continue
        phone = values["phone"]
        if phone in seen:
            # the answer is shown on a dispatcher's screen: the number masked, the row named
            shown = mask_phone(phone)
            errors.append(
                RowError(
                    row=row.number,
                    column="phone",
                    message=f"{shown} repeats row {seen[phone]}",
                    zh=f"{shown} 与第 {seen[phone]} 行重复",
                )
            )
            continue
        seen[phone] = row.number
        valid.append((row.number, values))
        if expiry:
            expiries[phone] = expiry
    on_roster = existing_phones(session=session, phones=[v["phone"] for _, v in valid])
    new: list[dict[str, Any]] = []
    for number, values in valid:
        if values["phone"] in on_roster:
            errors.append(
                RowError(
                    row=number,
                    column="phone",
                    message=f"{mask_phone(values['phone'])} is already on the roster "
                    f"(volunteer {on_roster[values['phone']]})",
                    zh=f"{mask_phone(values['phone'])} 已在名册中"
                    f"（志愿者 {on_roster[values['phone']]}）",
                )
            )
            continue
        new.append(values)
    if not dry_run:
        for start in range(0, len(new), INSERT_ROWS):
            # an executemany per chunk: bounded statements, and the GIL handed over between
            session.execute(insert(VOLUNTEERS), new[start : start + INSERT_ROWS])
            time.sleep(0)
        dated = [v["phone"] for v in new if v["phone"] in expiries]
        if dated:
            ids = existing_phones(session=session, phones=dated)
            expiring.insert_many(
                session=session,
                rows=[(ids[p], skill, day) for p in dated for skill, day in expiries[p].items()],
            )
    created = len(new)
    errors.sort(key=lambda e: e.row)
    return ImportResult(
        rows=rows, created=created, rejected=len(errors), errors=errors, dry_run=dry_run
    )
