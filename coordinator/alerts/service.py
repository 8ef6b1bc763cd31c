"""Alert lookups: identity, references, district names. No HTTP, no Kafka."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from coordinator.alerts.errors import UnknownDistricts

# The vocabulary other domains check a query against: named from here, never from models
from coordinator.alerts.models import KINDS as KINDS
from coordinator.alerts.models import LEVELS as LEVELS
from coordinator.alerts.models import Alert, AlertClaim
from coordinator.geo.service import resolve


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


def fingerprint(
    *,
    kind: str,
    level: str,
    districts: Iterable[str],
    headline: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> str:
    """sha256 of what makes two JSON alerts the same alert: kind, level, the set of district
    codes, the headline (outer spaces aside) and the window as UTC instants (so +08:00 and Z
    spellings of one time agree)."""
    canonical = {
        "kind": kind,
        "level": level,
        "districts": sorted(set(districts)),
        "headline": headline.strip(),
        "starts_at": utc(starts_at).isoformat() if starts_at else None,
        "ends_at": utc(ends_at).isoformat() if ends_at else None,
    }
    text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def claim(*, session: Session, sender: str, key: str, now: datetime) -> AlertClaim:
    """The claim row of (sender, key), locked until the caller's transaction ends; inserted
    (with no alert yet) when there is none. On PostgreSQL a second transaction claiming the same
    key waits in the INSERT until the first commits, then finds its row; SQLite's writers take
    turns anyway (BEGIN IMMEDIATE)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AlertClaim)
        .values(sender=sender, key=key, fingerprint="", claimed_at=utc(now))
        .on_conflict_do_nothing(index_elements=["sender", "key"])
    )
    return session.exec(
        select(AlertClaim)
        .where(AlertClaim.sender == sender, AlertClaim.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def delete_claims_before(*, session: Session, cutoff: datetime) -> int:
    """Delete the claims made before `cutoff`; returns how many went."""
    result = session.execute(delete(AlertClaim).where(col(AlertClaim.claimed_at) < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def first_received_at(*, session: Session, incident_id: int) -> datetime | None:
    """When the first alert that opened or joined the incident reached Nuanliu."""
    return session.exec(
        select(Alert.received_at)
        .where(Alert.incident_id == incident_id)
        .order_by(col(Alert.received_at))
        .limit(1)
    ).first()
