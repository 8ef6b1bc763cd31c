"""What a report says, before it is a PDF or a workbook: a title, paragraphs, tables whose
columns know their kind (a count, yuan, a share), and charts. `pdf` and `xlsx` render the same
`Document`, so the two files of a report never show different figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

#: int: a count; yuan: an amount in fen shown in yuan; share: 0..1 shown as a percentage;
#: number: a measure with one decimal; text: as it is
Kind = Literal["int", "yuan", "share", "number", "text"]
Cell = str | int | float | None

LANGS = ("zh", "en")


@dataclass
class Table:
    #: the worksheet's name (31 characters at most, Excel's limit)
    name: str
    title: str
    columns: list[tuple[str, Kind]]
    rows: list[list[Cell]]
    #: a last row of totals, drawn in bold
    total: list[Cell] | None = None
    #: a kind per row for the columns that are not text (a table of measures of all kinds)
    row_kinds: list[Kind] | None = None

    def kinds(self, row: int) -> list[Kind]:
        """The kind of each cell of row `row` (the total row is `len(rows)`)."""
        kinds = [kind for _, kind in self.columns]
        if self.row_kinds is not None and row < len(self.row_kinds):
            return [k if k == "text" else self.row_kinds[row] for k in kinds]
        return kinds

    def all_rows(self) -> list[list[Cell]]:
        return [*self.rows, *([self.total] if self.total is not None else [])]

    def shown(self) -> list[list[tuple[str, bool]]]:
        """Every row (the total last) as printed: (text, is a number) per cell; a total row's
        empty cells stay empty."""
        out = []
        for r, row in enumerate(self.all_rows()):
            total = r == len(self.rows)
            out.append(
                [
                    ("" if total and v is None else show(v, kind), kind != "text")
                    for v, kind in zip(row, self.kinds(r), strict=True)
                ]
            )
        return out


@dataclass
class Chart:
    """A chart drawn when it is first looked at: a workbook has no charts, so an XLSX never
    pays for drawing them."""

    title: str
    draw: Callable[[], bytes]

    @cached_property
    def png(self) -> bytes:
        return self.draw()


@dataclass
class Document:
    title: str
    subtitle: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


def count(n: int | float) -> str:
    """A whole number with thousands separators: 8,296."""
    return f"{round(n):,}"


def yuan(fen: int, *, whole: bool = False) -> str:
    """An amount of fen in yuan with thousands separators: 45,734.50 (or 45,735 when whole:
    half a yuan rounds up, as a cashier would, not to the even yuan as round() does)."""
    if whole:
        sign = "-" if fen < 0 else ""
        return f"{sign}{(abs(fen) + 50) // 100:,}"
    return f"{fen / 100:,.2f}"


def share(value: float) -> str:
    return f"{value:.1%}"


def number(value: float) -> str:
    return f"{value:,.1f}"


def show(value: Cell, kind: Kind) -> str:
    """A cell as the PDF prints it ('' for nothing, — for a measure that has no value yet)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if kind == "int":
        return count(value)
    if kind == "yuan":
        return yuan(int(value))
    if kind == "share":
        return share(float(value))
    if kind == "number":
        return number(float(value))
    return str(value)


def local_time(value: datetime | None, tz: str) -> str | None:
    """A stored UTC time as the union's clock reads it (None stays None)."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
