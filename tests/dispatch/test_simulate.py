"""`nuanliu simulate ice-storm` against the app with every consumer running (TestClient is an
httpx client, so the simulation talks HTTP exactly as it would to a running instance)."""

from __future__ import annotations

import pytest
from rich.console import Console

from coordinator.dispatch.playbooks import DEFAULT_PLAYBOOKS, PlaybookData, plan
from coordinator.dispatch.simulate import SEED_DISTRICTS, Behaviour, Simulation, print_outcome
from tests.conftest import bearer
from tests.dispatch.helpers import use_playbook

pytestmark = pytest.mark.integration

TWO_PER_DISTRICT = {
    "tasks": [
        {
            "key": "deice",
            "kind": "de_icing",
            "title_zh": "路面除冰",
            "per": "district",
            "slots": 2,
            "skills": [],
            "hours": 4,
        }
    ]
}


def test_default_playbook_asks_for_the_seed_400(settings):
    from datetime import UTC, date, datetime

    from coordinator.dispatch.playbooks import DistrictInfo

    districts = [DistrictInfo(code, name, name, 26.6, 106.7) for code, name in SEED_DISTRICTS]
    specs = plan(
        PlaybookData.model_validate(DEFAULT_PLAYBOOKS["ice_storm"]),
        level="orange",
        districts=districts,
        stations=[],
        start=datetime(2014, 1, 5, tzinfo=UTC),
        day=date(2014, 1, 5),
        tz="Asia/Shanghai",
    )
    assert sum(s.slots for s in specs) == 400


def test_simulated_phones_fill_the_incident(client, tokens):
    token = tokens["dispatcher"]
    use_playbook(client, token, data=TWO_PER_DISTRICT)
    client.headers.update(bearer(token))
    sim = Simulation(
        client,
        speed=600,
        settle_s=4,
        max_s=90,
        seed=7,
        behaviour=Behaviour(accept=0.75, decline=0.25),
        console=Console(quiet=True),
    )
    outcome = sim.run()
    assert outcome.needed == 8
    assert outcome.replies["decline"] >= 1  # declines were refilled and answered again
    assert outcome.offers_seen > outcome.needed
    assert outcome.accepted == 8 and outcome.fill_rate == 1.0
    texts = [text for _, text in outcome.timeline]
    assert texts[0].startswith("orange road-icing alert posted")
    assert any("100% of slots accepted" in t for t in texts)
    print_outcome(outcome, Console(quiet=True))


def test_the_simulation_counts_only_its_own_incident_and_closes_it(client, tokens, engine):
    """A real incident (snow in Guanshanhu) runs beside the simulated ice storm: its offers
    are in the same SMS log, but the simulation neither answers nor counts them, and it
    closes its own incident when it ends, leaving the other one open and untouched."""
    from sqlmodel import Session, col, select

    from coordinator.dispatch.models import Assignment, Incident
    from coordinator.sms.models import SmsMessage
    from tests.conftest import wait_for, wait_quiet
    from tests.dispatch.helpers import post_alert

    token = tokens["dispatcher"]
    use_playbook(client, token, data=TWO_PER_DISTRICT)
    use_playbook(client, token, kind="snow", data=TWO_PER_DISTRICT)
    other = post_alert(client, token, kind="snow", level="orange", districts=["观山湖区"])[
        "incident_id"
    ]

    def offers_of(incident_id: int) -> list[SmsMessage]:
        with Session(engine) as s:
            return list(
                s.exec(
                    select(SmsMessage)
                    .join(Assignment, col(Assignment.id) == col(SmsMessage.assignment_id))
                    .where(SmsMessage.kind == "offer", Assignment.incident_id == incident_id)
                ).all()
            )

    wait_for(lambda: len(offers_of(other)) >= 1, timeout=60)
    client.headers.update(bearer(token))
    outcome = Simulation(
        client,
        speed=600,
        settle_s=4,
        max_s=90,
        seed=7,
        behaviour=Behaviour(accept=1.0, decline=0.0),
        console=Console(quiet=True),
    ).run()
    assert outcome.incident_id != other
    assert outcome.offers_seen == len(offers_of(outcome.incident_id))
    assert outcome.others_ignored == len(offers_of(other)) >= 1
    assert outcome.needed == 8 and outcome.accepted == 8
    assert outcome.closed
    wait_quiet(engine)
    with Session(engine) as s:
        mine = s.get(Incident, outcome.incident_id)
        theirs = s.get(Incident, other)
        assert mine is not None and mine.status == "closed"
        assert theirs is not None and theirs.status == "open"
        # nobody answered the other incident's offers for its volunteers
        states = s.exec(select(Assignment.status).where(Assignment.incident_id == other)).all()
        assert states and set(states) <= {"offered"}, states
        live = s.exec(
            select(Assignment.status).where(Assignment.incident_id == outcome.incident_id)
        ).all()
        assert "offered" not in live and "accepted" not in live  # stood down at the close
    texts = [text for _, text in outcome.timeline]
    assert texts[-1] == f"incident {outcome.incident_id} closed"
    console = Console(record=True, width=120)
    print_outcome(outcome, console)
    printed = console.export_text()
    assert (
        "other incidents' offers left alone" in printed
        and f"Ice storm, incident {outcome.incident_id}" in printed
    )
