"""What a traveller served takes from a station's shelves, per item: the planning's demand
(travellers × rate) and the reports' reading of hand-outs back into travellers (hand-outs ÷
rates) use the same numbers."""

from __future__ import annotations

from coordinator.logistics.models import Item

#: items per traveller served, by SKU (the seed's catalogue) and, for other items, by category
RATES_BY_SKU: dict[str, float] = {
    "FOOD-NOODLE": 0.25,
    "FOOD-BISCUIT": 0.17,
    "FOOD-CAKE": 0.10,
    "DRINK-WATER": 0.30,
    "MED-MOTION": 0.17,
    "MED-COLD": 0.14,
    "TICKET-HOME": 0.0124,
}
RATES_BY_CATEGORY: dict[str, float] = {
    "food": 0.1,
    "drink": 0.2,
    "medicine": 0.05,
    "ticket": 0.005,
    "other": 0.0,
}


def rate_for(item: Item) -> float:
    """Items of `item` consumed per traveller served."""
    if item.sku in RATES_BY_SKU:
        return RATES_BY_SKU[item.sku]
    return RATES_BY_CATEGORY.get(item.category, 0.0)
