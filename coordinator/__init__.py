"""Nuanliu (暖流): event-driven volunteer and logistics coordinator."""

__version__ = "0.1.0"
