"""`nuanliu simulate ice-storm`: replays 5 January 2014 against a running instance over HTTP.

It posts an orange road-icing CAP alert for Yunyan, Nanming, Wudang and Huaxi (the default
playbook asks for 400 volunteers, the seed's "400+ workers"), then plays the volunteers' phones:
it reads the offers from `GET /api/sms` and answers through `POST /api/sms/inbound`. Most accept
within minutes, some decline, some never answer (their offers expire on the server after
NUANLIU_OFFER_TIMEOUT and are offered again). `--speed` divides the phones' delays; the
server's clock is its own. Only the offers of its own incident are answered and counted (a
real incident running beside it is left alone), and its incident is closed at the end, so the
instance is left as it was. Prints a timeline and the final fill rate.
"""

from __future__ import annotations

import heapq
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from coordinator.alerts import cap

SEED_DISTRICTS = [
    ("520103", "云岩区"),
    ("520102", "南明区"),
    ("520112", "乌当区"),
    ("520111", "花溪区"),
]
_CODE = re.compile(r"(?:编号|ref )([A-Z0-9]{2,8})")


@dataclass(frozen=True)
class Behaviour:
    """How simulated volunteers answer: shares of accept/decline (the rest stay silent) and the
    median delay of an answer, in scenario seconds (log-normal)."""

    accept: float = 0.80
    decline: float = 0.08
    median_delay_s: float = 90.0
    spread: float = 0.8


@dataclass(order=True)
class _Due:
    at: float
    phone: str = field(compare=False)
    body: str = field(compare=False)
    what: str = field(compare=False)


@dataclass
class Outcome:
    incident_id: int
    needed: int
    accepted: int
    offered: int
    replies: Counter[str]
    offers_seen: int
    timeline: list[tuple[float, str]]
    #: offers of other incidents seen in the SMS log (left unanswered)
    others_ignored: int = 0
    #: whether the run closed its incident at the end
    closed: bool = False

    @property
    def fill_rate(self) -> float:
        return self.accepted / self.needed if self.needed else 0.0


def ice_storm_cap(now: datetime, identifier: str | None = None) -> str:
    """The orange road-icing warning of 5 January 2014, sent `now`."""
    return cap.build(
        identifier=identifier or f"GY-ICE-{uuid.uuid4().hex[:10]}",
        sender="gyqxt@guizhou.cma.gov.cn",
        sent=now,
        event="道路结冰",
        headline="贵阳市气象台发布道路结冰橙色预警[Ⅱ级/严重]",
        severity="Severe",
        urgency="Immediate",
        districts=SEED_DISTRICTS,
        onset=now,
        expires=now + timedelta(hours=12),
    )


class Simulation:
    """The phones of one run. `http` is any httpx.Client pointed at the instance (the tests
    pass FastAPI's TestClient), already carrying the bearer token."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        speed: float = 60.0,
        behaviour: Behaviour | None = None,
        seed: int = 20140105,
        settle_s: float = 30.0,
        max_s: float = 900.0,
        console: Console | None = None,
    ) -> None:
        self.http = http
        self.speed = max(speed, 0.001)
        self.behaviour = behaviour or Behaviour()
        self.rng = random.Random(seed)
        self.settle_s = settle_s
        self.max_s = max_s
        self.console = console or Console()
        self.timeline: list[tuple[float, str]] = []
        self.replies: Counter[str] = Counter()
        self._seen: set[int] = set()
        self._ours: set[int] = set()
        self.others_ignored = 0
        self._queue: list[_Due] = []
        self._started = time.monotonic()

    def _log(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        self.timeline.append((elapsed, text))

    def _check(self, r: httpx.Response, what: str) -> Any:
        if r.status_code >= 400:
            raise RuntimeError(f"{what}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()

    def post_alert(self) -> int:
        xml = ice_storm_cap(datetime.now(UTC))
        body = self._check(
            self.http.post(
                "/api/alerts/cap", content=xml, headers={"content-type": "application/xml"}
            ),
            "posting the CAP alert",
        )
        self._log(f"orange road-icing alert posted (incident {body['incident_id']})")
        return int(body["incident_id"])

    def incident(self, incident_id: int) -> dict[str, Any]:
        return self._check(self.http.get(f"/api/incidents/{incident_id}"), "reading the incident")  # type: ignore[no-any-return]

    def new_offers(self, incident_id: int) -> list[dict[str, Any]]:
        """Offer texts of `incident_id` not seen yet (the log is newest first: page until a
        known one). The incident is read after the log, so every assignment an offer in it
        names is already listed: an offer of another incident is never taken for ours."""
        found = self._new_offer_texts()
        if not found:
            return []
        self._ours |= {a["id"] for a in self.incident(incident_id)["assignments"]}
        mine = [m for m in found if m.get("assignment_id") in self._ours]
        self.others_ignored += len(found) - len(mine)
        return mine

    def _new_offer_texts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._check(
                self.http.get(
                    "/api/sms", params={"direction": "outbound", "offset": offset, "limit": 500}
                ),
                "reading the SMS log",
            )
            items = page["items"]
            fresh = [m for m in items if m["id"] not in self._seen]
            for m in fresh:
                self._seen.add(m["id"])
            found += [m for m in fresh if m.get("kind") == "offer"]
            if len(fresh) < len(items) or len(items) < 500:
                return found
            offset += 500

    def _decide(self, offer: dict[str, Any], now: float) -> None:
        match = _CODE.search(offer["body"])
        code = match.group(1) if match else ""
        roll = self.rng.random()
        b = self.behaviour
        delay = self.rng.lognormvariate(0, b.spread) * b.median_delay_s / self.speed
        if roll < b.accept:
            heapq.heappush(self._queue, _Due(now + delay, offer["phone"], f"1 {code}", "accept"))
        elif roll < b.accept + b.decline:
            heapq.heappush(self._queue, _Due(now + delay, offer["phone"], f"2 {code}", "decline"))
        else:
            self.replies["silent"] += 1

    def run(self) -> Outcome:
        incident_id = self.post_alert()
        try:
            outcome = self._play(incident_id)
        finally:  # a run that fails half-way leaves no incident of its own open either
            closed = self.close(incident_id)
        outcome.closed = closed
        if closed:
            self._log(f"incident {incident_id} closed")
        return outcome

    def close(self, incident_id: int) -> bool:
        """Close the run's incident (True when this call closed it); the dispatch consumer
        then stands its volunteers down, so no phone of the run keeps an open offer."""
        return self.http.post(f"/api/incidents/{incident_id}/close").status_code == 200

    def _play(self, incident_id: int) -> Outcome:
        detail = self._wait_for_tasks(incident_id)
        needed = sum(t["needed"] for t in detail["tasks"])
        self._log(f"{len(detail['tasks'])} tasks planned, {needed} volunteers needed")
        last_change = time.monotonic()
        accepted = 0
        offers = 0
        with Progress(
            TextColumn("[bold]accepted"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("offers {task.fields[offers]} · replies {task.fields[replies]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        ) as bar:
            task = bar.add_task("fill", total=needed or 1, offers=0, replies=0)
            while True:
                now = time.monotonic()
                fresh = self.new_offers(incident_id)
                if fresh:
                    if not offers:
                        self._log(f"first {len(fresh)} offers sent by SMS")
                    offers += len(fresh)
                    last_change = now
                    for offer in fresh:
                        self._decide(offer, now)
                while self._queue and self._queue[0].at <= now:
                    due = heapq.heappop(self._queue)
                    r = self.http.post(
                        "/api/sms/inbound", json={"from": due.phone, "body": due.body}
                    )
                    self._check(r, "replying")
                    self.replies[due.what] += 1
                    last_change = now
                detail = self.incident(incident_id)
                filled = sum(t["accepted"] + t["done"] for t in detail["tasks"])
                if filled != accepted:
                    for mark in (0.25, 0.5, 0.75, 1.0):
                        if accepted < mark * needed <= filled:
                            self._log(f"{int(mark * 100)}% of slots accepted ({filled}/{needed})")
                    accepted = filled
                bar.update(
                    task,
                    completed=accepted,
                    offers=offers,
                    replies=sum(v for k, v in self.replies.items() if k != "silent"),
                )
                if needed and accepted >= needed:
                    break
                if not self._queue and now - last_change > self.settle_s:
                    self._log("no more answers coming; silent offers wait for the server's expiry")
                    break
                if now - self._started > self.max_s:
                    self._log("time limit reached")
                    break
                time.sleep(0.2 if self._queue else 0.5)
        final = self.incident(incident_id)
        return Outcome(
            incident_id=incident_id,
            needed=needed,
            accepted=sum(t["accepted"] + t["done"] for t in final["tasks"]),
            offered=sum(t["offered"] for t in final["tasks"]),
            replies=self.replies,
            offers_seen=offers,
            timeline=self.timeline,
            others_ignored=self.others_ignored,
        )

    def _wait_for_tasks(self, incident_id: int, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            detail = self.incident(incident_id)
            if detail["tasks"]:
                return detail
            time.sleep(0.2)
        raise RuntimeError("no tasks were planned within a minute: is the dispatch worker running?")


def print_outcome(outcome: Outcome, console: Console) -> None:
    table = Table(title="Timeline", show_header=True)
    table.add_column("after", justify="right")
    table.add_column("what")
    for at, text in outcome.timeline:
        table.add_row(f"{at:6.1f} s", text)
    console.print(table)
    summary = Table(title=f"Ice storm, incident {outcome.incident_id}")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("volunteers needed", str(outcome.needed))
    summary.add_row("offers sent", str(outcome.offers_seen))
    for what, label in (
        ("accept", "replies: yes"),
        ("decline", "replies: no"),
        ("silent", "offers never answered"),
    ):
        summary.add_row(label, str(outcome.replies.get(what, 0)))
    summary.add_row("accepted", str(outcome.accepted))
    summary.add_row("still offered", str(outcome.offered))
    summary.add_row("fill rate", f"{outcome.fill_rate:.1%}")
    summary.add_row("other incidents' offers left alone", str(outcome.others_ignored))
    summary.add_row("incident closed at the end", "yes" if outcome.closed else "NO")
    console.print(summary)


def ice_storm(
    url: Annotated[str, typer.Option(help="the running instance")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(help="a dispatcher token", envvar="NUANLIU_TOKEN")
    ] = None,
    speed: Annotated[float, typer.Option(help="how much faster the phones answer")] = 60.0,
    seed: Annotated[int, typer.Option(help="random seed of the phones")] = 20140105,
    settle: Annotated[float, typer.Option(help="stop after this many quiet seconds")] = 30.0,
) -> None:
    """Replay the ice storm of 5 January 2014 with simulated volunteers' phones."""
    console = Console()
    if not token:
        raise typer.BadParameter(
            "give --token (or NUANLIU_TOKEN): `nuanliu token create --role dispatcher`"
        )
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as http:
        try:
            outcome = Simulation(
                http, speed=speed, seed=seed, settle_s=settle, console=console
            ).run()
        except (httpx.HTTPError, RuntimeError) as exc:
            console.print(f"[bold red]nuanliu simulate:[/] {exc}")
            raise typer.Exit(2) from None
    print_outcome(outcome, console)
