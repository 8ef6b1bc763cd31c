"""The dispatch consumer."""

from __future__ import annotations

from consumers.registry import Handlers

handlers = Handlers("dispatch")
