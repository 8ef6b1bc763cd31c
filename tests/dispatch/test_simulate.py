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
