"""Alert lookups: identity, references, district names. No HTTP, no Kafka."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from coordinator.alerts.models import Alert
from coordinator.geo.service import resolve


class UnknownDistricts(ValueError):
    """Some names or codes are not districts we know; `names` lists them."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(
            "unknown district" + ("s" if len(names) > 1 else "") + ": " + ", ".join(names)
        )
        self.names = list(names)


def utc(value: datetime) -> datetime:
    """`value` in UTC (naive values are taken to be UTC), so identities compare equal."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def resolve_districts(*, session: Session, names: Iterable[str]) -> list[str]:
    """GB/T 2260 codes for district names or codes (order kept, duplicates dropped); raises
    UnknownDistricts naming every one that is not ours."""
    codes: list[str] = []
    unknown: list[str] = []
    for name in names:
        district = resolve(session=session, name_or_code=name)
        if district is None:
            unknown.append(name)
        elif district.code not in codes:
            codes.append(district.code)
    if unknown:
        raise UnknownDistricts(unknown)
    return codes


def find_by_identity(
    *, session: Session, sender: str, identifier: str, sent: datetime
) -> Alert | None:
    return session.exec(
        select(Alert).where(
            Alert.sender == sender, Alert.identifier == identifier, Alert.sent == utc(sent)
        )
    ).first()


def find_referenced(
    *, session: Session, references: Sequence[tuple[str, str, datetime | None]]
) -> list[Alert]:
    """Alerts named by CAP `references` triples (sender, identifier, sent). When `sent` does not
    match exactly (feeds reformat offsets), the newest alert with that sender and identifier."""
    found: list[Alert] = []
    for sender, identifier, sent in references:
        row = (
            find_by_identity(session=session, sender=sender, identifier=identifier, sent=sent)
            if sent is not None
            else None
        )
        if row is None:
            row = session.exec(
                select(Alert)
                .where(Alert.sender == sender, Alert.identifier == identifier)
                .order_by(col(Alert.id).desc())
            ).first()
        if row is not None and row not in found:
            found.append(row)
    return found
