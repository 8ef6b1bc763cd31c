"""A travel rush's campaign figures, computed from the facts alone: hand-outs, fund charges,
discrepancies and the stock ledger (logistics), the rush's incidents and their assignments
(dispatch, through `incidents.build`). Nothing is stored; the PDF and the XLSX draw the same
`SeasonReport`.

Which facts belong to the season of year Y: those from the first day of its window (Lunar New
Year of Y minus the days before, `alerts.calendar`) to the day after its last, widened to the
time a travel-rush incident for that window was open (a rush is opened ahead of its first day;
a simulation plays its days in minutes). Days are the union's calendar days (settings'
timezone), counted from Lunar New Year, so two seasons line up day by day.

Stock-out hours: the hours a station held none of an item it had been stocked with, by the
clock (not only its opening hours), within the season and up to now. A station opened mid-season
is out of nothing before its first delivery.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from coordinator.alerts import calendar
from coordinator.common import aware
from coordinator.dispatch import service as dispatch
from coordinator.logistics import service as logistics
from coordinator.reports import incidents

#: what the union counts in its yearly figures, by item category
GROUPS = ("food_drink", "medicine", "tickets")
_GROUP_OF = {
    "food": "food_drink",
    "drink": "food_drink",
    "medicine": "medicine",
    "ticket": "tickets",
}


def group_of(category: str) -> str:
    """food_drink, medicine, tickets, or other."""
    return _GROUP_OF.get(category, "other")


@dataclass
class StationSeason:
    station_id: int
    code: str
    name_zh: str
    name_en: str
    handed_out: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))
    ticket_fen: int = 0
    discrepancies: int = 0
    short_units: int = 0
    over_units: int = 0
    damaged_units: int = 0
    #: item SKU → hours the station held none of it (only items it ran out of)
    stockout_hours: dict[str, float] = field(default_factory=dict)
    #: its first delivery of the season when it held nothing before (a station opened
    #: mid-season shows a late one); None when it had stock from before or never got any
    first_stocked_at: datetime | None = None

    @property
    def items(self) -> int:
        """Goods handed out (tickets are bought, not stocked)."""
        return sum(n for g, n in self.handed_out.items() if g != "tickets")


@dataclass
class ItemLine:
    sku: str
    name_zh: str
    name_en: str
    unit: str
    group: str
    quantity: int


@dataclass
class DiscrepancyLine:
    station_zh: str
    station_en: str
    sku: str
    item_zh: str
    item_en: str
    kind: str
    sent: int
    received: int
    quantity: int
    at: datetime


@dataclass
class SeasonReport:
    year: int
    lunar_new_year: date
    first_day: date
    last_day: date
    since: datetime
    until: datetime
    generated_at: datetime
    tz: str
    stations: list[StationSeason]
    items: list[ItemLine]
    #: day → group → quantity (all stations)
    per_day: dict[date, dict[str, int]]
    #: (station id, day) → goods handed out
    per_station_day: dict[tuple[int, date], int]
    #: (station id, day, item id) → goods handed out, for reading them back into travellers
    per_station_day_item: dict[tuple[int, date, int], int]
    #: destination → (tickets, fen)
    destinations: dict[str, tuple[int, int]]
    discrepancy_lines: list[DiscrepancyLine]
    budget_fen: int
    #: fund kind (ticket, purchase, adjustment) → fen charged in the season
    spent_by_kind: dict[str, int]
    fund_names: list[str]
    volunteers: int
    hours_served: float
    #: station id → [(when, units held of every item)], for the stock chart
    stock_series: dict[int, list[tuple[datetime, int]]]

    def total(self, group: str) -> int:
        return sum(day.get(group, 0) for day in self.per_day.values())

    @property
    def tickets(self) -> int:
        return self.total("tickets")

    @property
    def ticket_fen(self) -> int:
        return sum(fen for _, fen in self.destinations.values())

    @property
    def spent_fen(self) -> int:
        return sum(self.spent_by_kind.values())

    def day_number(self, day: date) -> int:
        """Days from Lunar New Year (New Year's Eve is -1)."""
        return (day - self.lunar_new_year).days

    @property
    def days(self) -> list[date]:
        """Every day of the window, and any day outside it that has a hand-out."""
        window = [
            self.first_day + timedelta(days=n)
            for n in range((self.last_day - self.first_day).days + 1)
        ]
        return sorted(set(window) | set(self.per_day))


def span(
    *,
    session: Session,
    year: int,
    days_before: int,
    length_days: int,
    tz: str,
    now: datetime,
) -> tuple[date, date, datetime, datetime, list[dispatch.Incident]]:
    """The season of `year`: its first and last day, the [since, until) it covers (UTC) and
    the travel-rush incidents that belong to it."""
    first, last = calendar.travel_rush_window(
        year, days_before=days_before, length_days=length_days
    )
    zone = ZoneInfo(tz)
    since = datetime.combine(first, time(0), tzinfo=zone)
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    rushes = []
    for incident in dispatch.incidents_of_kind(session=session, kind="travel_rush"):
        starts = aware(incident.starts_at) or aware(incident.opened_at)
        if starts is None or not first <= starts.astimezone(zone).date() <= last:
            continue
        rushes.append(incident)
        opened = aware(incident.opened_at) or since
        closed = aware(incident.closed_at) or now
        since, until = min(since, opened), max(until, closed + timedelta(seconds=1))
    return first, last, since, until, rushes


def build(
    *,
    session: Session,
    year: int,
    days_before: int,
    length_days: int,
    tz: str,
    now: datetime,
) -> SeasonReport:
    """The campaign figures of the travel rush whose Lunar New Year falls in `year`."""
    first, last, since, until, rushes = span(
        session=session,
        year=year,
        days_before=days_before,
        length_days=length_days,
        tz=tz,
        now=now,
    )
    zone = ZoneInfo(tz)
    items = logistics.items_by_id(session=session)
    places = logistics.places_of_kind(session=session, kind="station")
    stations = {
        p.id: StationSeason(station_id=p.id, code=p.code, name_zh=p.name_zh, name_en=p.name_en)
        for p in places
        if p.id is not None
    }
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(GROUPS, 0))
    per_station_day: dict[tuple[int, date], int] = defaultdict(int)
    per_station_day_item: dict[tuple[int, date, int], int] = defaultdict(int)
    per_item: Counter[int] = Counter()
    destinations: dict[str, tuple[int, int]] = {}
    for d in logistics.distributions_between(session=session, since=since, until=until):
        item = items[d.item_id]
        group = group_of(item.category)
        day = (aware(d.at) or since).astimezone(zone).date()
        station = stations.get(d.place_id)
        per_item[d.item_id] += d.quantity
        if group in GROUPS:
            per_day[day][group] += d.quantity
        if station is not None and group in GROUPS:
            station.handed_out[group] += d.quantity
        if group == "tickets":
            where = d.destination or "—"
            count, fen = destinations.get(where, (0, 0))
            destinations[where] = (count + d.quantity, fen + (d.cost_fen or 0))
            if station is not None:
                station.ticket_fen += d.cost_fen or 0
        elif station is not None:
            per_station_day[(d.place_id, day)] += d.quantity
            per_station_day_item[(d.place_id, day, d.item_id)] += d.quantity
    lines = [
        ItemLine(
            sku=items[i].sku,
            name_zh=items[i].name_zh,
            name_en=items[i].name_en,
            unit=items[i].unit,
            group=group_of(items[i].category),
            quantity=n,
        )
        for i, n in sorted(per_item.items(), key=lambda kv: (-kv[1], items[kv[0]].sku))
    ]
    found = []
    for x in logistics.discrepancies_between(session=session, since=since, until=until):
        station = stations.get(x.place_id)
        item = items[x.item_id]
        if station is not None:
            station.discrepancies += 1
            if x.kind == "short":
                station.short_units += x.quantity
            elif x.kind == "over":
                station.over_units += x.quantity
            else:
                station.damaged_units += x.quantity
        found.append(
            DiscrepancyLine(
                station_zh=station.name_zh if station else str(x.place_id),
                station_en=station.name_en if station else str(x.place_id),
                sku=item.sku,
                item_zh=item.name_zh,
                item_en=item.name_en,
                kind=x.kind,
                sent=x.sent,
                received=x.received,
                quantity=x.quantity,
                at=aware(x.created_at) or since,
            )
        )
    charges = logistics.fund_charges_between(session=session, since=since, until=until)
    spent: dict[str, int] = defaultdict(int)
    for c in charges:
        spent[c.kind] += c.amount_fen
    funds = logistics.funds_for(session=session, fund_ids={c.fund_id for c in charges}, year=year)
    series = _stock(session, stations, since=since, until=min(until, now), items=items)
    volunteers = 0
    hours = 0.0
    for rush in rushes:
        figures = incidents.build(session=session, incident=rush, now=now)
        volunteers += figures.volunteers
        hours += figures.hours_served
    return SeasonReport(
        year=year,
        lunar_new_year=calendar.lunar_new_year(year),
        first_day=first,
        last_day=last,
        since=since,
        until=until,
        generated_at=now,
        tz=tz,
        stations=list(stations.values()),
        items=lines,
        per_day=dict(per_day),
        per_station_day=dict(per_station_day),
        per_station_day_item=dict(per_station_day_item),
        destinations=dict(sorted(destinations.items(), key=lambda kv: (-kv[1][0], kv[0]))),
        discrepancy_lines=found,
        budget_fen=sum(f.budget_fen for f in funds),
        spent_by_kind=dict(sorted(spent.items())),
        fund_names=[f.name for f in funds],
        volunteers=volunteers,
        hours_served=hours,
        stock_series=series,
    )


def _stock(
    session: Session,
    stations: dict[int, StationSeason],
    *,
    since: datetime,
    until: datetime,
    items: dict[int, logistics.Item],
) -> dict[int, list[tuple[datetime, int]]]:
    """Walk the ledger through the season: each station's stock over time, its stock-out
    hours per item and, for a station with no stock before, when it was first stocked."""
    before = {
        k: v
        for k, v in logistics.balances_before(session=session, at=since).items()
        if k[0] in stations
    }
    balance = dict(before)
    held = {sid: sum(v for (p, _), v in before.items() if p == sid) for sid in stations}
    series: dict[int, list[tuple[datetime, int]]] = {sid: [(since, held[sid])] for sid in stations}
    #: (station, item) → since when it has held none (only pairs stocked once)
    empty_since: dict[tuple[int, int], datetime] = {k: since for k, v in before.items() if v == 0}
    stocked = set(before)
    out_hours: dict[tuple[int, int], float] = defaultdict(float)
    moves = logistics.movements_between(session=session, since=since, until=until)
    for m in moves:
        key = (m.place_id, m.item_id)
        station = stations.get(m.place_id)
        if station is None:
            continue
        at = aware(m.at) or since
        if key not in stocked and m.delta > 0:
            stocked.add(key)
            if station.first_stocked_at is None and not any(p == m.place_id for p, _ in before):
                station.first_stocked_at = at
        start = empty_since.pop(key, None)
        if start is not None and m.balance_after > 0:
            out_hours[key] += (at - start).total_seconds() / 3600.0
        elif start is not None:
            empty_since[key] = start
        if key in stocked and m.balance_after == 0 and key not in empty_since:
            empty_since[key] = at
        held[m.place_id] += m.balance_after - balance.get(key, 0)
        balance[key] = m.balance_after
        series[m.place_id].append((at, held[m.place_id]))
    for key, start in empty_since.items():
        out_hours[key] += max((until - start).total_seconds(), 0.0) / 3600.0
    for (station_id, item_id), hours in sorted(out_hours.items()):
        if hours > 0:
            stations[station_id].stockout_hours[items[item_id].sku] = hours
    for sid in stations:
        series[sid].append((until, held[sid]))
    return series
