"""The season teaches the next one: next year's travellers per station and day, proposed from
this season's hand-outs, aligned by days from Lunar New Year.

The rush moves with the lunar calendar (1 February one year and 19 February the next can be
the same day of the rush), so day k of this season, counted from its Lunar New Year, becomes
day k of the next. Travellers served are read back from the hand-outs with the planning's own
rates (a traveller takes so many of each item: travellers = Σ handed out ÷ Σ rates over the
goods counted), then smoothed over three days, so one busy afternoon does not become next
year's plan. A day a station ran out under-counts what was asked for; the proposal says what
was served, and a dispatcher accepts or edits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from coordinator.reports.seasons import SeasonReport

#: days either side of a day averaged into it
SMOOTH = 1


@dataclass
class ForecastDay:
    """One day of the rush, aligned across two seasons (all stations together)."""

    offset: int
    this_day: date
    #: travellers served this season, read back from the hand-outs
    served: float
    #: what this season's uploaded forecast said, None where there was none
    forecast: int | None
    next_day: date
    proposed: int


@dataclass
class Proposal:
    year: int
    next_year: int
    lunar_new_year: date
    next_lunar_new_year: date
    #: (station id, next season's day, travellers)
    rows: list[tuple[int, date, int]]
    days: list[ForecastDay]


def served(report: SeasonReport, rates: dict[int, float]) -> dict[tuple[int, int], float]:
    """(station id, days from Lunar New Year) → travellers served, for the rush's own days."""
    lny = report.lunar_new_year
    first, last = report.day_number(report.first_day), report.day_number(report.last_day)
    handed: dict[tuple[int, int], int] = {}
    for (station, day, item), n in report.per_station_day_item.items():
        offset = (day - lny).days
        if item in rates and first <= offset <= last:
            handed[(station, offset)] = handed.get((station, offset), 0) + n
    per_traveller = sum(rates.values())
    if per_traveller <= 0:
        return {}
    return {key: n / per_traveller for key, n in handed.items()}


def propose(
    report: SeasonReport,
    *,
    rates: dict[int, float],
    next_lunar_new_year: date,
    stored: dict[tuple[int, date], int],
) -> Proposal:
    """Next season's travellers per station and day from this season's, day k of the rush to
    day k; `stored` is this season's uploaded forecast, shown beside what was served."""
    lny = report.lunar_new_year
    first, last = report.day_number(report.first_day), report.day_number(report.last_day)
    offsets = range(first, last + 1)
    actual = served(report, rates)
    rows: list[tuple[int, date, int]] = []
    proposed_by_offset: dict[int, int] = dict.fromkeys(offsets, 0)
    for station in report.stations:
        for k in offsets:
            window = [actual.get((station.station_id, j), 0.0) for j in _around(k, first, last)]
            travellers = round(sum(window) / len(window))
            rows.append((station.station_id, next_lunar_new_year + timedelta(days=k), travellers))
            proposed_by_offset[k] += travellers
    days = []
    for k in offsets:
        this_day = lny + timedelta(days=k)
        said = [n for (_, day), n in stored.items() if day == this_day]
        days.append(
            ForecastDay(
                offset=k,
                this_day=this_day,
                served=sum(v for (_, j), v in actual.items() if j == k),
                forecast=sum(said) if said else None,
                next_day=next_lunar_new_year + timedelta(days=k),
                proposed=proposed_by_offset[k],
            )
        )
    return Proposal(
        year=report.year,
        next_year=report.year + 1,
        lunar_new_year=lny,
        next_lunar_new_year=next_lunar_new_year,
        rows=rows,
        days=days,
    )


def _around(k: int, first: int, last: int) -> range:
    return range(max(first, k - SMOOTH), min(last, k + SMOOTH) + 1)
