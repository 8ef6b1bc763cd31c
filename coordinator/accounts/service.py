"""Tokens, actors and the audit log. No HTTP here: `deps.py` turns these into dependencies."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from coordinator.accounts.errors import StationsRequired, UnknownRole

# The roles vocabulary other domains offer in forms: named from here, never from models
from coordinator.accounts.models import ROLES as ROLES
from coordinator.accounts.models import ApiToken, AuditLog
from coordinator.common import utcnow
from events.context import current_event_id, current_request_id


@dataclass(frozen=True)
class Actor:
    """Whoever is acting: a token's or a session's role and stations, or the system itself."""

    name: str
    role: str
    station_ids: frozenset[int] = field(default_factory=frozenset)

    def may_manage(self, station_id: int) -> bool:
        """Dispatchers and admins see every station; a manager only their own."""
        if self.role in ("admin", "dispatcher"):
            return True
        return self.role == "station_manager" and station_id in self.station_ids


SYSTEM = Actor(name="system", role="admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    *,
    session: Session,
    role: str,
    station_ids: list[int] | None = None,
    label: str = "",
    value: str | None = None,
    user_id: int | None = None,
) -> str:
    """Store a new token and return its value; the value is never stored and cannot be shown
    again. `value` lets NUANLIU_ADMIN_TOKEN choose it."""
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "station_manager" and not station_ids:
        raise StationsRequired("a station_manager token needs at least one station")
    token = value or f"nl_{secrets.token_urlsafe(32)}"
    digest = hash_token(token)
    if session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first() is None:
        session.add(
            ApiToken(
                token_hash=digest,
                role=role,
                station_ids=sorted(station_ids or []),
                label=label,
                user_id=user_id,
            )
        )
    return token


def actor_for_token(*, session: Session, token: str) -> Actor | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Actor(
        name=row.label or f"token:{row.id}",
        role=row.role,
        station_ids=frozenset(row.station_ids or []),
    )


class TokenCache:
    """Actors of tokens seen in the last `ttl_s` seconds, so a burst of webhook calls does not
    look the same token up hundreds of times a second. Only valid tokens are kept (an unknown
    one is looked up every time); a token revoked in the database is refused within `ttl_s`.
    Thread-safe: dict reads and writes are atomic, and a lost race costs one lookup."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        #: token hash → (when it was looked up, its actor)
        self._entries: dict[str, tuple[float, Actor]] = {}

    def get(self, token: str) -> Actor | None:
        entry = self._entries.get(hash_token(token))
        if entry is None or time.monotonic() - entry[0] >= self.ttl_s:
            return None
        return entry[1]

    def put(self, token: str, actor: Actor) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # tokens are few; this only bounds a pathological case
        self._entries[hash_token(token)] = (time.monotonic(), actor)


def record_audit_many(*, session: Session, entries: list[dict[str, Any]]) -> None:
    """Append many entries (`actor`, `action`, `subject`, `detail`, `request_id`, optional
    `event_id`) in one executemany inside the caller's transaction: the SMS intake audits
    every text of a batch."""
    if not entries:
        return
    now = utcnow()
    session.execute(
        insert(AuditLog.__table__),  # type: ignore[attr-defined]
        [
            {
                "at": now,
                "actor": actor_name(e["actor"]),
                "action": e["action"],
                "subject": e.get("subject", ""),
                "detail": e.get("detail") or {},
                "event_id": e.get("event_id") or current_event_id.get(),
                "request_id": e.get("request_id") or current_request_id.get(),
            }
            for e in entries
        ],
    )


def actor_name(actor: Actor | str) -> str:
    """How the audit log names an actor: `role:name`, or the string given."""
    return actor if isinstance(actor, str) else f"{actor.role}:{actor.name}"


def record_audit(
    *,
    session: Session,
    actor: Actor | str,
    action: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    event_id: str | None = None,
    request_id: str | None = None,
) -> None:
    """Append to the audit log inside the caller's transaction. The request or event being
    handled is filled in from the context when not given."""
    session.add(
        AuditLog(
            actor=actor_name(actor),
            action=action,
            subject=subject,
            detail=detail or {},
            event_id=event_id or current_event_id.get(),
            request_id=request_id or current_request_id.get(),
        )
    )


def first_audit_times(
    *, session: Session, actions: Iterable[str], subjects: Iterable[str]
) -> dict[str, datetime]:
    """Subject → when the first of `actions` was recorded for it: the moment a fact became
    true, which the row it changed may have overwritten since (an accepted assignment that is
    completed later keeps only its completion time)."""
    wanted = list(dict.fromkeys(subjects))
    kinds = list(actions)
    out: dict[str, datetime] = {}
    for i in range(0, len(wanted), 900):
        for subject, at in session.exec(
            select(AuditLog.subject, func.min(AuditLog.at))
            .where(col(AuditLog.action).in_(kinds), col(AuditLog.subject).in_(wanted[i : i + 900]))
            .group_by(col(AuditLog.subject))
        ).all():
            out[subject] = at
    return out
