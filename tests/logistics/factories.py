"""Small factories for logistics test data."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from coordinator.logistics.models import Item, Place

_seq = itertools.count(1)


def make_place(session: Session, *, kind: str = "station", phones: str = "") -> Place:
    n = next(_seq)
    place = Place(
        kind=kind,
        code=f"T-{kind[:2].upper()}-{n}",
        name_zh=f"测试{n}",
        name_en=f"Test {kind} {n}",
        lat=26.6,
        lon=106.7,
        station_type="bus" if kind == "station" else None,
        manager_phones=phones,
    )
    session.add(place)
    session.flush()
    return place


def make_item(
    session: Session, *, category: str = "food", unit_cost_fen: int = 100, unit: str = "piece"
) -> Item:
    n = next(_seq)
    item = Item(
        sku=f"T-ITEM-{n}",
        name_zh=f"物品{n}",
        name_en=f"Item {n}",
        short_name=f"t{n}",
        unit=unit,
        category=category,
        unit_cost_fen=unit_cost_fen,
    )
    session.add(item)
    session.flush()
    return item
