"""What a dispatcher accepts from a report: next season's proposed forecast, edited or as it is
(stored as the travellers forecast planning reads, the table an uploaded CSV fills), and an
incident's playbook suggestions (saved into the playbook as a PUT would). Both audited."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.dispatch import service as dispatch
from coordinator.logistics import service as logistics
from coordinator.reports.errors import ForecastEditRefused, SuggestionRefused
from coordinator.reports.forecast import Proposal
from coordinator.reports.suggestions import Suggestion, apply


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


def accept_suggestions(
    *,
    session: Session,
    incident: dispatch.Incident,
    offered: list[Suggestion],
    playbook: dispatch.PlaybookData,
    keys: list[str],
    actor: Actor,
) -> tuple[str, dispatch.PlaybookData]:
    """Make the suggestions named by `keys` in the incident's playbook and save it at the level
    it was read from; (that level, the playbook saved). A key not offered, or one that is
    advice only, is refused and nothing is saved."""
    by_key = {s.key: s for s in offered}
    wrong = [k for k in keys if k not in by_key or not by_key[k].applicable]
    if wrong or not keys:
        raise SuggestionRefused(
            f"not a change this report suggests: {', '.join(wrong[:5])}"
            if wrong
            else "name at least one suggestion to accept"
        )
    changed = apply(playbook, [by_key[k] for k in dict.fromkeys(keys)])
    level = dispatch.playbook_level(session=session, kind=incident.kind, level=incident.level)
    dispatch.save_playbook(
        session=session, kind=incident.kind, level=level, data=changed, by=actor.name
    )
    record_audit(
        session=session,
        actor=actor,
        action="playbook.saved",
        subject=f"playbook:{incident.kind}:{level or '*'}",
        detail={
            "from_incident": incident.id,
            "changes": {k: [by_key[k].current, by_key[k].proposed] for k in keys},
        },
    )
    return level, changed
