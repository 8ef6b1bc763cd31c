"""A dispatcher opts a volunteer out for them (issue 14): as their STOP text would, their open
offer is cancelled (they are told) and the slot is offered to someone else; back in, they may
be asked again."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer, wait_for
from tests.dispatch.helpers import assignments, outbound, post_alert, use_playbook, wait_offers


@pytest.mark.integration
def test_opting_out_cancels_open_offers_and_refills_them(client, tokens, engine):
    token = tokens["dispatcher"]
    use_playbook(client, token)
    post_alert(client, token)
    a, _b, _c = wait_offers(engine, 3)
    r = client.post(
        f"/api/volunteers/{a.volunteer_id}/opt-out",
        json={"reason": "phoned in"},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"volunteer_id": a.volunteer_id, "opted_out": True, "cancelled": 1}
    [cancelled] = assignments(engine, id=a.id)
    assert cancelled.status == "cancelled"
    # the slot goes to someone else, never back to the volunteer who is out
    refill = wait_for(
        lambda: [x for x in assignments(engine, slot=a.slot, status="offered") if x.id != a.id]
    )
    assert all(x.volunteer_id != a.volunteer_id for x in refill)
    # they asked for no more task texts: not even "your task was cancelled"
    assert "cancelled" not in {m.kind for m in outbound(engine, volunteer_id=a.volunteer_id)}
    # an assignment by hand is refused while they are out, accepted once they are back in
    task = a.task_id
    refused = client.post(
        f"/api/tasks/{task}/assign", json={"volunteer_id": a.volunteer_id}, headers=bearer(token)
    )
    assert refused.status_code == 409 and refused.json()["code"] == "volunteer_unavailable"
    back = client.post(f"/api/volunteers/{a.volunteer_id}/opt-in", headers=bearer(token))
    assert back.status_code == 200, back.text
    with Session(engine) as s:
        v = s.get(Volunteer, a.volunteer_id)
        assert v is not None and not v.opted_out
