"""Hours from the ledger: pure logic over one assignment's `ServiceRecord`s and its task's
window, no database. The rules (issue 15; 《志愿服务记录与证明出具办法》: the time actually
served):

- hours count from the check-in, but never before the window opens (an early arrival counts
  from the start);
- they end at the check-out, but never later than the window's end plus `tolerance`
  (flagged `capped` when cut);
- a forgotten check-out is closed at the window's end and flagged `auto_closed`. This is
  computed on read, not written by a job: the ledger keeps only what people did, and a late
  check-out text still lands as the real record (then counted, within the tolerance);
- the newest correction replaces all of that with the interval it names (`corrected`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from coordinator.common import aware
from coordinator.dispatch.models import RecordKind, ServiceRecord


@dataclass(frozen=True)
class Served:
    """One assignment's time served, as the ledger gives it."""

    assignment_id: int
    window_start: datetime
    window_end: datetime
    checked_in_at: datetime | None = None
    checked_out_at: datetime | None = None
    #: the interval counted; `ended_at` None while the volunteer is still on shift
    started_at: datetime | None = None
    ended_at: datetime | None = None
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def closed(self) -> bool:
        return self.started_at is not None and self.ended_at is not None

    def hours(self, now: datetime | None = None) -> float:
        """Hours served (until `now` while still on shift), two decimals."""
        if self.started_at is None:
            return 0.0
        end = self.ended_at or now or self.started_at
        return round(max(0.0, (end - self.started_at).total_seconds()) / 3600, 2)


def served(
    *,
    assignment_id: int,
    window_start: datetime,
    window_end: datetime,
    records: Iterable[ServiceRecord],
    now: datetime,
    tolerance: timedelta,
) -> Served:
    """The time served on one assignment from its records (any order)."""
    ws, we = aware(window_start), aware(window_end)
    assert ws is not None and we is not None
    rows = sorted(records, key=lambda r: r.id or 0)
    check_in = next((r for r in rows if r.kind == RecordKind.CHECK_IN), None)
    check_out = next((r for r in rows if r.kind == RecordKind.CHECK_OUT), None)
    corrections = [r for r in rows if r.kind == RecordKind.CORRECTION]
    no_show = any(r.kind == RecordKind.NO_SHOW for r in rows)
    clocked_in = aware(check_in.at) if check_in else None
    clocked_out = aware(check_out.at) if check_out else None
    base = Served(assignment_id, ws, we, clocked_in, clocked_out)
    if corrections:
        last = corrections[-1]
        return replace(
            base,
            started_at=aware(last.started_at),
            ended_at=aware(last.ended_at),
            flags=("corrected",),
        )
    if clocked_in is None:
        return replace(base, flags=("no_show",) if no_show else ("no_check_in",))
    flags: list[str] = []
    start = max(clocked_in, ws)
    if clocked_in < ws:
        flags.append("early")
    latest = we + tolerance
    if clocked_out is not None:
        end = min(clocked_out, latest)
        if clocked_out > latest:
            flags.append("capped")
    elif now >= latest:
        end = we
        flags.append("auto_closed")
    else:
        return replace(base, started_at=start, flags=(*flags, "on_shift"))
    return replace(base, started_at=start, ended_at=max(start, end), flags=tuple(flags))


def overlapping(intervals: Sequence[tuple[int, datetime, datetime]]) -> list[tuple[int, int]]:
    """Pairs of ids among (id, start, end) intervals that overlap (touching ends do not)."""
    out: list[tuple[int, int]] = []
    ordered = sorted(intervals, key=lambda i: (i[1], i[2]))
    reach: tuple[int, datetime] | None = None  # the interval reaching furthest so far
    for ident, start, end in ordered:
        if reach is not None and start < reach[1]:
            out.append((reach[0], ident))
        if reach is None or end > reach[1]:
            reach = (ident, end)
    return out
