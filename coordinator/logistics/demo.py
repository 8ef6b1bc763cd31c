"""The logistics part of the Guiyang demo data: central warehouse stock, station targets and
reorder points from the default demand curve, the 50,000-yuan campaign fund, manager phones for
the two city-level stations."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date

from sqlmodel import Session, col, select

from coordinator.logistics import ledger, planning
from coordinator.logistics.models import Fund, Item, Place, StationTarget

#: the leading group's dedicated funds per year (seed): 50,000 yuan
CAMPAIGN_FUND_FEN = 50_000 * 100
#: the warehouse opens the season with this share of the season's expected hand-outs
OPENING_SHARE = 0.6


def load_logistics_demo(
    session: Session, rng: random.Random, phone: Callable[[random.Random, set[str]], str]
) -> None:
    """A demo step (see `coordinator.demo.DEMO_STEPS`); `phone` is the demo's number maker."""
    items = [
        i for i in session.exec(select(Item).order_by(col(Item.id))).all() if i.category != "ticket"
    ]
    stations = list(
        session.exec(select(Place).where(Place.kind == "station").order_by(col(Place.id))).all()
    )
    warehouse = session.exec(select(Place).where(Place.kind == "warehouse")).first()
    if warehouse is None or not stations:
        return
    assert warehouse.id is not None
    curve = planning.default_curve()
    weights = [planning.station_weight(p) for p in stations]
    total_weight = sum(weights)
    peak = max(curve) * planning.SEASON_TRAVELLERS
    for item in items:
        assert item.id is not None
        rate = planning.rate_for(item)
        season = planning.SEASON_TRAVELLERS * rate
        opening = int(round(season * OPENING_SHARE, -1))
        if opening > 0:
            ledger.record_movement(
                session=session,
                place_id=warehouse.id,
                item_id=item.id,
                delta=opening,
                kind="receipt",
                actor="demo",
                reason="opening stock",
            )
        for place, weight in zip(stations, weights, strict=True):
            assert place.id is not None
            per_day = peak * weight / total_weight * rate
            session.add(
                StationTarget(
                    place_id=place.id,
                    item_id=item.id,
                    target=max(3, math.ceil(per_day * planning.DEFAULT_TARGET_DAYS)),
                    reorder_point=max(1, math.ceil(per_day)),
                )
            )
    session.add(
        Fund(
            name="春运平安返乡专项资金 travel-rush campaign fund",
            year=date.today().year,
            budget_fen=CAMPAIGN_FUND_FEN,
        )
    )
    used: set[str] = set()
    for place in stations:
        if place.code in planning.CITY_STATIONS:
            place.manager_phones = ",".join(phone(rng, used) for _ in range(2))
            session.add(place)
    session.flush()
