"""The JSON of what reports propose: next season's forecast and a dispatcher's edits of it, an
incident's playbook suggestions and which of them a dispatcher accepts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from coordinator.lookup import BodyId
from coordinator.reports.forecast import Proposal
from coordinator.reports.suggestions import Suggestion


class ForecastDayPublic(BaseModel):
    offset: int = Field(description="days from Lunar New Year")
    this_day: date
    served: float = Field(description="travellers served this season, from the hand-outs")
    forecast: int | None = Field(description="this season's uploaded forecast, if any")
    next_day: date
    proposed: int


class StationDay(BaseModel):
    station_id: BodyId
    date: date
    travellers: int = Field(ge=0, le=1_000_000)


class ForecastProposalPublic(BaseModel):
    year: int
    next_year: int
    lunar_new_year: date
    next_lunar_new_year: date
    days: list[ForecastDayPublic]
    rows: list[StationDay]

    @classmethod
    def of(cls, proposal: Proposal) -> ForecastProposalPublic:
        return cls(
            year=proposal.year,
            next_year=proposal.next_year,
            lunar_new_year=proposal.lunar_new_year,
            next_lunar_new_year=proposal.next_lunar_new_year,
            days=[ForecastDayPublic(**vars(d)) for d in proposal.days],
            rows=[StationDay(station_id=s, date=d, travellers=n) for s, d, n in proposal.rows],
        )


class ForecastAccept(BaseModel):
    """Accept the proposal; `edits` replace the proposed travellers of the days they name."""

    edits: list[StationDay] = Field(default_factory=list, max_length=20_000)


class ForecastAccepted(BaseModel):
    next_year: int
    stored: int
    edited: int


class SuggestionPublic(BaseModel):
    key: str
    rule_key: str
    field: str
    current: float | None
    proposed: float | None
    applicable: bool
    reason_zh: str
    reason_en: str

    @classmethod
    def of(cls, s: Suggestion) -> SuggestionPublic:
        return cls(**vars(s), applicable=s.applicable)


class SuggestionsAccept(BaseModel):
    keys: list[str] = Field(min_length=1, max_length=200)


class SuggestionsAccepted(BaseModel):
    kind: str
    level: str | None
    accepted: list[str]
    playbook: dict[str, Any]


class DistrictName(BaseModel):
    code: str
    name_zh: str
    name_en: str


class IncidentFigures(BaseModel):
    """An incident in the history: what it was, when, why it ended, and its after-action
    figures (the definitions of `reports.incidents`: filled counts slots taken and then stood
    down at the close; hours are the hours ledger's time served)."""

    id: int
    kind: str
    level: str
    title: str
    status: str
    districts: list[DistrictName]
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str
    slots: int
    filled: int
    fill_rate: float
    volunteers: int
    hours_served: float
    no_shows: int


class IncidentHistory(BaseModel):
    data: list[IncidentFigures]
    #: how many incidents match the filter in all (for paging)
    count: int
