"""Travellers forecasts uploaded by a dispatcher: a CSV `station,date,travellers` checked row by
row (every bad row reported, nothing stored unless all are good) and stored per station and
day. Days without a row follow the default curve (`planning.travellers_per_day`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date

from sqlmodel import Session, select

from coordinator.logistics.errors import ForecastError
from coordinator.logistics.models import Forecast

MAX_FORECAST_ROWS = 20_000


def parse_forecast_csv(text: str, *, stations: dict[str, int]) -> list[tuple[int, date, int]]:
    """Rows `station,date,travellers` (station by code or id) → (place id, day, travellers).
    Every bad row is reported; nothing is returned unless all rows are good."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ForecastError([{"row": 1, "error": "the file is empty"}]) from None
    except csv.Error as exc:
        raise ForecastError([{"row": 1, "error": f"not CSV: {exc}"}]) from None
    if header[:3] != ["station", "date", "travellers"]:
        raise ForecastError([{"row": 1, "error": "the header must be: station,date,travellers"}])
    out: list[tuple[int, date, int]] = []
    errors: list[dict[str, object]] = []
    seen: set[tuple[int, date]] = set()
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if number > MAX_FORECAST_ROWS + 1:
                errors.append({"row": number, "error": f"more than {MAX_FORECAST_ROWS} rows"})
                break
            if len(row) != 3:
                errors.append({"row": number, "error": f"expected 3 columns, got {len(row)}"})
                continue
            raw_station, raw_day, raw_count = (cell.strip() for cell in row)
            place_id = stations.get(raw_station)
            if place_id is None:
                errors.append({"row": number, "error": f"unknown station {raw_station!r}"})
                continue
            try:
                day = date.fromisoformat(raw_day)
            except ValueError:
                errors.append({"row": number, "error": f"not a date (YYYY-MM-DD): {raw_day!r}"})
                continue
            if not 1951 <= day.year <= 2099:
                errors.append({"row": number, "error": f"a date between 1951 and 2099: {raw_day}"})
                continue
            if not raw_count.isdigit() or int(raw_count) > 1_000_000:
                errors.append(
                    {"row": number, "error": f"travellers must be 0..1000000: {raw_count!r}"}
                )
                continue
            if (place_id, day) in seen:
                errors.append({"row": number, "error": f"{raw_station} {day} appears twice"})
                continue
            seen.add((place_id, day))
            out.append((place_id, day, int(raw_count)))
    except csv.Error as exc:
        errors.append({"row": reader.line_num, "error": f"not CSV: {exc}"})
    if errors:
        raise ForecastError(errors)
    if not out:
        raise ForecastError([{"row": 2, "error": "no forecast rows"}])
    return out


def store_forecast(*, session: Session, rows: Iterable[tuple[int, date, int]]) -> int:
    """Insert or replace forecast rows; returns how many were written."""
    count = 0
    for place_id, day, travellers in rows:
        existing = session.exec(
            select(Forecast).where(Forecast.place_id == place_id, Forecast.day == day)
        ).first()
        if existing is None:
            session.add(Forecast(place_id=place_id, day=day, travellers=travellers))
        else:
            existing.travellers = travellers
            session.add(existing)
        count += 1
    return count
