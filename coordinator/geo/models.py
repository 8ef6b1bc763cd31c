from __future__ import annotations

from sqlmodel import Field, SQLModel


class District(SQLModel, table=True):
    """A county-level division. `code` is the six-digit GB/T 2260 code; CAP's CPEAS geocode is
    that code followed by six zeros."""

    __tablename__ = "districts"

    code: str = Field(primary_key=True, max_length=6)
    name_zh: str = Field(max_length=32, index=True)
    name_en: str = Field(max_length=64)
    lat: float
    lon: float
    #: rough radius used to scatter demo homes and to match areaDesc circles
    radius_km: float = 8.0
