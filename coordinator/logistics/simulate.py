"""`nuanliu simulate travel-rush`: 40 days of the Spring Festival travel rush against a running
instance, over HTTP, in accelerated time.

It opens the rush (a `travel_rush` alert), approves the supply plan the provision consumer makes
(unless the server auto-approves), then plays every station day by day: travellers arrive along
the default curve (Poisson around the expected count), managers confirm the shipments that
arrived (now and then a line comes up short), hand out what travellers need while stock lasts,
and buy emergency tickets home. Low stock makes the server resupply on its own. At the end it
prints per station: items handed out, stock-out hours, discrepancies and fund spent.

`--token` must be an admin token: the simulation acts as dispatcher and as every station's
manager (`nuanliu token create --role admin`).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from coordinator.common import local_date
from coordinator.config import Settings
from coordinator.logistics import planning
from coordinator.logistics.models import Place

#: where the rush happens, unless the caller says otherwise (the setting's own default)
DEFAULT_TIMEZONE: str = Settings.model_fields["timezone"].default

#: hours a station is open in a day, for turning a shortfall into stock-out hours
OPEN_HOURS = 16.0
#: chance that a confirmed shipment line comes up short, and by how much at most
SHORTFALL_CHANCE = 0.08
SHORTFALL_MAX = 0.15
#: a ticket home costs around the catalogue price of 150 yuan
TICKET_FEN = (10_000, 20_001)
DESTINATIONS = ["毕节", "遵义", "铜仁", "安顺", "六盘水", "凯里", "都匀", "兴义", "重庆", "昆明"]


def category_of(sku: str) -> str:
    """food_drink, medicine or tickets (the seed's three yearly totals)."""
    if sku.startswith(("FOOD", "DRINK")):
        return "food_drink"
    return "tickets" if sku.startswith("TICKET") else "medicine"


#: the seed's yearly totals
SEED_TOTALS = {"food_drink": 8000, "medicine": 3000, "tickets": 124}


def expected_daily(
    weights: list[float], rates: dict[str, float], *, travellers: int = planning.SEASON_TRAVELLERS
) -> np.ndarray:
    """Expected hand-outs [day, station, item] under the default curve: what the simulation
    draws its Poisson counts around (and what the tests add up against the seed's totals)."""
    shares = np.array(weights) / sum(weights)
    curve = np.array(planning.default_curve())
    per_item = np.array(list(rates.values()))
    return travellers * curve[:, None, None] * shares[None, :, None] * per_item[None, None, :]


@dataclass
class StationTally:
    name: str
    handed_out: int = 0
    tickets: int = 0
    stockout_hours: float = 0.0
    fund_spent_fen: int = 0
    receipts: int = 0
    shortfalls: int = 0
    discrepancies: int = 0


@dataclass
class Outcome:
    stations: dict[int, StationTally] = field(default_factory=dict)
    #: the run's own travel-rush incident (closed at the end) and its supply plan
    incident_id: int | None = None
    plan_id: int | None = None
    closed: bool = False
    #: the fund as it stands after the run, and what the run itself spent of it
    fund: dict[str, Any] = field(default_factory=dict)
    fund_spent_fen: int = 0
    #: category (food_drink, medicine, tickets) → [asked for, handed out]
    by_category: dict[str, list[int]] = field(default_factory=dict)
    days: int = 0
    seconds: float = 0.0


class SimulationError(RuntimeError):
    pass


class Simulation:
    """Plays the rush against `http` (an httpx client with the admin token set)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        speed: float = 86_400.0,
        seed: int = 2026,
        days: int = planning.RUSH_DAYS,
        console: Console | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.http = http
        self.timezone = timezone
        #: shipments this run confirmed: its discrepancies are theirs, not another run's
        self.received: set[int] = set()
        self.speed = speed
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.days = min(max(days, 1), planning.RUSH_DAYS)
        self.console = console or Console(quiet=True)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise SimulationError(
                f"{method} {path} → {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    # -- the scenario ------------------------------------------------------------------------
    def rush_start(self) -> date:
        """The first day of the coming (or current) rush, by the date where it happens."""
        today = local_date(self.timezone)
        start = planning.rush_start(today.year)
        if start < today:
            start = planning.rush_start(today.year + 1)
        return start

    def open_rush(self, start: date) -> tuple[int, int | None]:
        """Raise the rush's alert; returns its incident and the supply plan made for it (None
        when none appeared within a minute)."""
        stations = self._json("GET", "/api/stations")
        districts = sorted({s["district_code"] for s in stations if s["district_code"]})
        opens = datetime.combine(start, dtime(0, 0), tzinfo=ZoneInfo(self.timezone))
        raised = self._json(
            "POST",
            "/api/alerts",
            json={
                "kind": "travel_rush",
                "level": "yellow",
                "districts": districts,
                "headline": "春运开始: 平安返乡服务站开放 (simulation)",
                "starts_at": opens.isoformat(),
            },
        )
        incident_id = int(raised["incident_id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ours = [p for p in self._json("GET", "/api/plans") if p["incident_id"] == incident_id]
            if ours:
                plan = ours[0]
                if plan["status"] == "proposed":
                    self._json("POST", f"/api/plans/{plan['id']}/approve")
                self.console.print(
                    f"plan {plan['id']}: worst station cover {plan['worst_coverage_days']:.2f} "
                    f"days (proportional split: {plan['baseline_worst_coverage_days']:.2f})"
                )
                return incident_id, int(plan["id"])
            time.sleep(0.2)
        self.console.print("[yellow]no supply plan appeared; playing on with what is stocked")
        return incident_id, None

    def receive(self, station_id: int, tally: StationTally) -> None:
        for shipment in self._json(
            "GET", "/api/shipments", params={"station_id": station_id, "status": "in_transit"}
        ):
            lines = []
            for line in shipment["lines"]:
                received = line["quantity"]
                if self.rng.random() < SHORTFALL_CHANCE:
                    cut = max(1, int(received * self.rng.uniform(0.01, SHORTFALL_MAX)))
                    received -= cut
                    tally.shortfalls += 1
                lines.append({"item": line["item"], "received": received})
            response = self.http.post(
                f"/api/shipments/{shipment['id']}/receipt", json={"lines": lines}
            )
            if response.status_code == 409:  # confirmed by someone else meanwhile
                continue
            if response.status_code >= 400:
                raise SimulationError(f"receipt of {shipment['short_code']}: {response.text}")
            self.received.add(int(shipment["id"]))
            tally.receipts += 1

    def hand_out(
        self,
        station_id: int,
        wants: dict[str, int],
        tally: StationTally,
        *,
        day: date,
        by_category: dict[str, list[int]] | None = None,
    ) -> None:
        stock = {
            line["sku"]: line["quantity"]
            for line in self._json("GET", f"/api/stations/{station_id}/stock")["items"]
        }
        counts = by_category if by_category is not None else {}
        for sku, want in wants.items():
            if want <= 0:
                continue
            tally_of = counts.setdefault(category_of(sku), [0, 0])
            tally_of[0] += want
            if sku == "TICKET-HOME":
                for _ in range(want):
                    cost = self.rng.randrange(*TICKET_FEN)
                    response = self.http.post(
                        f"/api/stations/{station_id}/distributions",
                        json={
                            "item": sku,
                            "quantity": 1,
                            "destination": self.rng.choice(DESTINATIONS),
                            "cost_fen": cost,
                            "note": f"simulated {day}",
                        },
                    )
                    if response.status_code == 201:
                        tally.tickets += 1
                        tally.fund_spent_fen += cost
                        tally_of[1] += 1
                continue
            give = min(want, stock.get(sku, 0))
            if give < want:
                tally.stockout_hours += OPEN_HOURS * (want - give) / want
            if give > 0:
                response = self.http.post(
                    f"/api/stations/{station_id}/distributions",
                    json={"item": sku, "quantity": give, "note": f"simulated {day}"},
                )
                if response.status_code == 201:
                    tally.handed_out += give
                    tally_of[1] += give
                elif response.status_code != 422:  # 422: stock moved meanwhile
                    raise SimulationError(f"hand-out at {station_id}: {response.text}")

    def run(self) -> Outcome:
        started = time.monotonic()
        stations = self._json("GET", "/api/stations")
        skus = {i["sku"] for i in self._json("GET", "/api/items")}
        rates = {sku: r for sku, r in planning.RATES_BY_SKU.items() if sku in skus}
        weights = [
            planning.station_weight(
                Place(
                    kind="station",
                    code=s["code"],
                    station_type=s["station_type"],
                    name_zh="",
                    name_en="",
                    lat=0.0,
                    lon=0.0,
                )
            )
            for s in stations
        ]
        expected = expected_daily(weights, rates)
        outcome = Outcome(stations={s["id"]: StationTally(name=s["name_zh"]) for s in stations})
        spent_before = int(self._json("GET", "/api/fund")["spent_fen"])
        first = self.rush_start()
        outcome.incident_id, outcome.plan_id = self.open_rush(first)
        try:
            self._play(outcome, stations, expected, rates, first)
        finally:  # a run that fails half-way leaves no rush of its own open either
            outcome.closed = self.close(outcome.incident_id)
        found = self._json("GET", "/api/discrepancies")
        counts: dict[int, int] = defaultdict(int)
        for d in found:
            if d["shipment_id"] in self.received:
                counts[d["station_id"]] += 1
        for station_id, tally in outcome.stations.items():
            tally.discrepancies = counts.get(station_id, 0)
        outcome.fund = self._json("GET", "/api/fund")
        outcome.fund_spent_fen = int(outcome.fund["spent_fen"]) - spent_before
        outcome.seconds = time.monotonic() - started
        return outcome

    def _play(
        self,
        outcome: Outcome,
        stations: list[dict[str, Any]],
        expected: np.ndarray[Any, Any],
        rates: dict[str, Any],
        first: date,
    ) -> None:
        for day_index in range(self.days):
            day_started = time.monotonic()
            day = first.fromordinal(first.toordinal() + day_index)
            for k, station in enumerate(stations):
                tally = outcome.stations[station["id"]]
                self.receive(station["id"], tally)
                wants = {
                    sku: int(self.np_rng.poisson(expected[day_index, k, j]))
                    for j, sku in enumerate(rates)
                }
                self.hand_out(station["id"], wants, tally, day=day, by_category=outcome.by_category)
            outcome.days = day_index + 1
            self.console.print(
                f"day {day_index + 1:2d}: handed out "
                f"{sum(t.handed_out for t in outcome.stations.values())} items so far"
            )
            pause = 86_400.0 / self.speed - (time.monotonic() - day_started)
            if pause > 0:
                time.sleep(pause)

    def close(self, incident_id: int | None) -> bool:
        """Close the run's incident (True when this call closed it)."""
        if incident_id is None:
            return False
        response = self.http.post(f"/api/incidents/{incident_id}/close", json={})
        return response.status_code == 200


def print_outcome(outcome: Outcome, console: Console) -> None:
    table = Table(title=f"Travel rush: {outcome.days} days played in {outcome.seconds:.0f} s")
    for column in (
        "station",
        "handed out",
        "tickets",
        "stock-out h",
        "receipts",
        "short lines",
        "discrepancies",
        "fund spent ¥",
    ):
        table.add_column(column, justify="left" if column == "station" else "right")
    for tally in outcome.stations.values():
        table.add_row(
            tally.name,
            str(tally.handed_out),
            str(tally.tickets),
            f"{tally.stockout_hours:.1f}",
            str(tally.receipts),
            str(tally.shortfalls),
            str(tally.discrepancies),
            f"{tally.fund_spent_fen / 100:,.2f}",
        )
    total = outcome.stations.values()
    table.add_row(
        "[bold]all stations",
        str(sum(t.handed_out for t in total)),
        str(sum(t.tickets for t in total)),
        f"{sum(t.stockout_hours for t in total):.1f}",
        str(sum(t.receipts for t in total)),
        str(sum(t.shortfalls for t in total)),
        str(sum(t.discrepancies for t in total)),
        f"{sum(t.fund_spent_fen for t in total) / 100:,.2f}",
    )
    console.print(table)
    for category, seed_total in SEED_TOTALS.items():
        asked, given = outcome.by_category.get(category, [0, 0])
        console.print(
            f"{category.replace('_', ' & ')}: travellers asked for {asked}, handed out {given} "
            f"(seed: {seed_total}+ a year)"
        )
    if outcome.fund:
        f = outcome.fund
        console.print(
            f"Fund: this run spent {outcome.fund_spent_fen / 100:,.2f} yuan (tickets and "
            f"purchases); the fund has {f['remaining_fen'] / 100:,.2f} of "
            f"{f['budget_fen'] / 100:,.2f} left."
        )
    if outcome.incident_id is not None:
        console.print(
            f"Incident {outcome.incident_id}: " + ("closed." if outcome.closed else "NOT closed.")
        )


def travel_rush(
    url: Annotated[str, typer.Option(help="the running instance")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(help="an admin token", envvar="NUANLIU_TOKEN")
    ] = None,
    speed: Annotated[float, typer.Option(help="scenario seconds per real second")] = 86_400.0,
    days: Annotated[int, typer.Option(help="days of the rush to play (1-40)")] = 40,
    seed: Annotated[int, typer.Option(help="random seed")] = 2026,
) -> None:
    """Play the 40 days of the Spring Festival travel rush at the stations."""
    console = Console(width=max(Console().width, 120))
    if not token:
        raise typer.BadParameter(
            "give --token (or NUANLIU_TOKEN): `nuanliu token create --role admin`"
        )
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as http:
        try:
            outcome = Simulation(http, speed=speed, seed=seed, days=days, console=console).run()
        except (httpx.HTTPError, SimulationError) as exc:
            console.print(f"[bold red]nuanliu simulate:[/] {exc}")
            raise typer.Exit(2) from None
    print_outcome(outcome, console)
