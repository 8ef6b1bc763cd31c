"""A station manager takes a hand-out back within a minute (a wrong tile, a double tap): the
goods are on the shelf again or a ticket's cost is back in the fund, once, at their own station
only; the ledger keeps both rows and `nuanliu check` stays clean."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.logistics import ledger
from coordinator.logistics.models import Distribution, FundCharge, StockMovement
from events.outbox import OutboxEvent
from nuanliu.check import check
from tests.conftest import bearer


def _stock_up(api: Any, tokens: dict[str, str], places: dict[str, int], n: int = 50) -> None:
    shipment = api.post(
        "/api/shipments",
        json={
            "from_id": places["warehouse"],
            "to_id": places["a"],
            "lines": [{"item": "FOOD-NOODLE", "quantity": n}],
        },
        headers=bearer(tokens["dispatcher"]),
    ).json()
    r = api.post(
        f"/api/shipments/{shipment['id']}/receipt",
        json={"lines": [{"item": "FOOD-NOODLE", "received": n}]},
        headers=bearer(tokens["manager_a"]),
    )
    assert r.status_code == 200, r.text


def _hand_out(api: Any, tokens: dict[str, str], places: dict[str, int], **body: Any) -> int:
    r = api.post(
        f"/api/stations/{places['a']}/distributions",
        json=body or {"item": "FOOD-NOODLE", "quantity": 20},
        headers=bearer(tokens["manager_a"]),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _undo(
    api: Any, tokens: dict[str, str], places: dict[str, int], did: int, who: str = "manager_a"
):
    return api.post(
        f"/api/stations/{places['a']}/distributions/{did}/undo", headers=bearer(tokens[who])
    )


def test_a_hand_out_taken_back_within_the_minute_is_back_on_the_shelf_once(
    api, tokens, places, skus, engine
):
    _stock_up(api, tokens, places)
    did = _hand_out(api, tokens, places)
    r = _undo(api, tokens, places, did)
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == 50 and r.json()["undone_at"] is not None
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=skus["FOOD-NOODLE"]) == 50
        kinds = [
            m.kind
            for m in s.exec(select(StockMovement).where(StockMovement.distribution_id == did)).all()
        ]
        assert sorted(kinds) == ["distribution", "handout_undo"]  # both rows stay
        types = {e.type for e in s.exec(select(OutboxEvent)).all()}
        assert "nuanliu.distribution.undone" in types
        audit = s.exec(select(AuditLog).where(AuditLog.action == "distribution.undone")).all()
        assert len(audit) == 1
        assert check(session=s, grace=timedelta(days=365)) == []
    again = _undo(api, tokens, places, did)
    assert again.status_code == 409 and again.json()["code"] == "handout_already_undone"
    listed = api.get(
        f"/api/stations/{places['a']}/distributions", headers=bearer(tokens["manager_a"])
    ).json()
    assert listed[0]["id"] == did and listed[0]["undone_at"] is not None


def test_a_ticket_taken_back_returns_its_cost_to_the_fund(api, tokens, places, engine):
    did = _hand_out(
        api, tokens, places, item="TICKET-HOME", quantity=1, destination="毕节", cost_fen=12_000
    )
    assert _undo(api, tokens, places, did).status_code == 200
    fund = api.get("/api/fund", headers=bearer(tokens["dispatcher"])).json()
    assert fund["spent_fen"] == 0 and fund["remaining_fen"] == fund["budget_fen"]
    assert fund["by_kind"] == {"ticket": 0}  # the refund nets out the ticket's spending
    with Session(engine) as s:
        amounts = sorted(
            c.amount_fen
            for c in s.exec(select(FundCharge).where(FundCharge.distribution_id == did)).all()
        )
        assert amounts == [-12_000, 12_000]
        assert check(session=s, grace=timedelta(days=365)) == []


def test_after_a_minute_only_a_dispatcher_adjusts(api, tokens, places, skus, engine):
    _stock_up(api, tokens, places)
    did = _hand_out(api, tokens, places)
    with Session(engine) as s:
        row = s.get(Distribution, did)
        assert row is not None
        row.at = row.at - timedelta(seconds=61)
        s.add(row)
        s.commit()
    late = _undo(api, tokens, places, did)
    assert late.status_code == 409 and late.json()["code"] == "undo_window_closed"
    assert "dispatcher" in late.json()["detail"]
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=skus["FOOD-NOODLE"]) == 30
        assert s.get(Distribution, did).undone_at is None  # type: ignore[union-attr]


def test_only_the_station_s_own_staff_undo_and_unknown_ids_are_404(
    api, tokens, places, skus, engine
):
    _stock_up(api, tokens, places)
    did = _hand_out(api, tokens, places)
    assert _undo(api, tokens, places, did, who="manager_b").status_code == 403
    elsewhere = api.post(
        f"/api/stations/{places['b']}/distributions/{did}/undo",
        headers=bearer(tokens["manager_b"]),
    )
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "distribution_not_found"
    assert _undo(api, tokens, places, 999_999).status_code == 404
    assert _undo(api, tokens, places, 0).status_code == 422
    assert api.post(f"/api/stations/{places['a']}/distributions/{did}/undo").status_code == 401
    with Session(engine) as s:
        assert ledger.balance(session=s, place_id=places["a"], item_id=skus["FOOD-NOODLE"]) == 30
        assert (
            s.exec(select(Distribution).where(col(Distribution.undone_at).is_not(None))).all() == []
        )
