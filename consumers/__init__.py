"""Nuanliu's consumers, one module each, each a table of small handlers named for the event
they handle. `CONSUMERS` is the list `nuanliu worker NAME` chooses from."""

from __future__ import annotations

from consumers import board, dispatch, inventory, notify, provision
from consumers.registry import Handlers


def consumer_tables() -> dict[str, Handlers]:
    """Name → handler table for every consumer."""
    return {
        "dispatch": dispatch.handlers,
        "notify": notify.handlers,
        "provision": provision.handlers,
        "inventory": inventory.handlers,
        "board": board.handlers,
    }


CONSUMERS = ("dispatch", "notify", "provision", "inventory", "board")
