"""What the logistics use cases share: who acted, and the quantity rule every line obeys."""

from __future__ import annotations

from coordinator.accounts.service import Actor
from coordinator.logistics import ledger
from coordinator.logistics.errors import InvalidQuantity

#: a hand-out or shipment line above this is a typo, not a delivery
MAX_QUANTITY = ledger.MAX_MOVEMENT


def actor_label(actor: Actor | str) -> str:
    """`role:name` for a person, or the system actor's own name (`provision`, `sms:+86…`)."""
    return actor if isinstance(actor, str) else f"{actor.role}:{actor.name}"


def check_quantity(value: int, what: str, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{what} must be a whole number")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidQuantity(f"{what} must be {'zero or more' if allow_zero else 'positive'}")
    if value > MAX_QUANTITY:
        raise InvalidQuantity(f"{what} of {value} is more than the limit of {MAX_QUANTITY}")
