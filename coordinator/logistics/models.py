"""Places (stations and warehouses) and the item catalogue. Stock, shipments, plans and the
fund live beside them in this package."""

from __future__ import annotations

from datetime import date
from typing import Literal

from sqlmodel import Field, SQLModel

PlaceKind = Literal["station", "warehouse"]
ItemCategory = Literal["food", "drink", "medicine", "ticket", "other"]


class Place(SQLModel, table=True):
    """A homeward-journey service station or a warehouse: anywhere stock is held."""

    __tablename__ = "places"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)
    code: str = Field(max_length=32, unique=True)
    name_zh: str = Field(max_length=64)
    name_en: str = Field(max_length=96)
    district_code: str | None = Field(default=None, foreign_key="districts.code", max_length=6)
    lat: float
    lon: float
    #: "bus" or "rail" for stations
    station_type: str | None = Field(default=None, max_length=8)
    opening_hours: str = Field(default="06:00-22:00", max_length=32)
    #: managers' phones (E.164, comma-separated) allowed to confirm receipts by SMS
    manager_phones: str = Field(default="", max_length=256)


class Item(SQLModel, table=True):
    __tablename__ = "items"

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=32, unique=True, index=True)
    name_zh: str = Field(max_length=64)
    name_en: str = Field(max_length=96)
    #: one or two characters a station manager can type in an SMS (面, 水, 晕)
    short_name: str = Field(max_length=8, unique=True)
    unit: str = Field(max_length=16)  # piece, box, bottle, ticket
    category: str = Field(max_length=16)
    unit_cost_fen: int = Field(ge=0)
    batch: str | None = Field(default=None, max_length=32)
    expires_on: date | None = None
