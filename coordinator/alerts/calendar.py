"""The Spring Festival travel rush (春运) calendar.

Lunar New Year comes from the `holidays` package (MIT; its Chinese calendar covers 1950-2100),
never from a table typed by hand. The official window has been LNY − 15 days for 40 days every
year 2023-2026 (2026: 2 February - 13 March), but it is announced yearly, so both numbers are
settings (`NUANLIU_RUSH_DAYS_BEFORE`, `NUANLIU_RUSH_LENGTH_DAYS`).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


class CalendarError(LookupError):
    """No Lunar New Year known for that year."""


@lru_cache(maxsize=64)
def lunar_new_year(year: int) -> date:
    """The first day of the Spring Festival (正月初一) in `year`."""
    days = holidays.China(years=year, language="en_US")
    found = sorted(d for d, name in days.items() if "Spring Festival" in name)
    if not found:
        raise CalendarError(f"the holidays package has no Spring Festival for {year}")
    return found[0]


def travel_rush_window(year: int, *, days_before: int, length_days: int) -> tuple[date, date]:
    """First and last day (inclusive) of the travel rush around `year`'s Lunar New Year."""
    if length_days < 1 or days_before < 0:
        raise ValueError("the travel rush needs days_before ≥ 0 and length_days ≥ 1")
    start = lunar_new_year(year) - timedelta(days=days_before)
    return start, start + timedelta(days=length_days - 1)


def window_containing(
    day: date, *, days_before: int, length_days: int
) -> tuple[int, date, date] | None:
    """(LNY year, first day, last day) of the travel rush that `day` falls in, or None. The
    rush of year Y can start in the December before, so Y and Y + 1 are both looked at."""
    for year in (day.year, day.year + 1):
        try:
            start, end = travel_rush_window(year, days_before=days_before, length_days=length_days)
        except CalendarError:
            continue
        if start <= day <= end:
            return year, start, end
    return None


def window_ending_on_or_after(
    day: date, *, days_before: int, length_days: int
) -> tuple[int, date, date]:
    """(LNY year, first day, last day) of the travel rush that `day` falls in, or else of the
    next one: the rush a day belongs to when someone prepares for it ahead of its window.
    Raises CalendarError past the years the calendar knows."""
    for year in (day.year, day.year + 1):
        start, end = travel_rush_window(year, days_before=days_before, length_days=length_days)
        if day <= end:
            return year, start, end
    raise CalendarError(f"no travel rush known after {day}")  # pragma: no cover
