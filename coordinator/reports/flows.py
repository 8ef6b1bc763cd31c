"""A dispatcher accepts next season's proposed forecast, edited or as it is: the rows are stored
as the travellers forecast planning reads (the same table an uploaded CSV fills), audited."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.logistics import service as logistics
from coordinator.reports.errors import ForecastEditRefused
from coordinator.reports.forecast import Proposal


def accept_forecast(
    *,
    session: Session,
    proposal: Proposal,
    edits: dict[tuple[int, date], int],
    actor: Actor,
) -> tuple[int, int]:
    """Store `proposal`'s rows with `edits` ((station id, day) → travellers) in their place;
    (rows stored, rows edited). An edit of a day or station the proposal has not is refused,
    and nothing is stored."""
    proposed = {(station, day): n for station, day, n in proposal.rows}
    unknown = sorted(key for key in edits if key not in proposed)
    if unknown:
        station, day = unknown[0]
        raise ForecastEditRefused(
            f"station {station} on {day} is not a day of the {proposal.next_year} rush "
            f"({len(unknown)} such edit(s)); nothing was stored"
        )
    rows = [(station, day, edits.get((station, day), n)) for (station, day), n in proposed.items()]
    stored = logistics.save_forecast(session=session, rows=rows)
    record_audit(
        session=session,
        actor=actor,
        action="forecast.accepted",
        subject=f"travel_rush:{proposal.next_year}",
        detail={"from_season": proposal.year, "rows": stored, "edited": len(edits)},
    )
    return stored, len(edits)
