"""People who log in: users, argon2 passwords, login sessions, lockout and rate limits.

No HTTP here (`coordinator.accounts.web` turns sessions into cookies and an authenticator).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import func
from sqlmodel import Session, select

from coordinator.accounts import rules
from coordinator.accounts.errors import (
    StationsRequired,
    UnknownRole,
    UserDisabled,
    UsernameTaken,
    WeakPassword,
)
from coordinator.accounts.models import ROLES, LoginAttempt, User, UserSession
from coordinator.accounts.service import Actor
from coordinator.common import aware, utcnow

#: argon2id with pwdlib's recommended parameters
_HASHER = PasswordHash.recommended()

#: lock an account after this many failures within `FAILURE_WINDOW`, for `LOCK_DURATION`
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
#: attempts from one address within `ADDRESS_WINDOW` before it must wait (any usernames)
MAX_ATTEMPTS_PER_ADDRESS = 30
ADDRESS_WINDOW = timedelta(minutes=5)
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = rules.MIN_PASSWORD_LENGTH


class LoginRefused(Exception):
    """Why a login failed; `reason` is one of: invalid, locked, rate_limited, disabled."""

    def __init__(self, reason: str, retry_after: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoggedIn:
    """A session just created: the cookie value (never stored) and its CSRF token."""

    cookie: str
    csrf_token: str
    user: User


@cache
def _dummy_hash() -> str:
    """Hashed once, so a login for an unknown user costs as much as one for a known user."""
    return _HASHER.hash("nuanliu-not-a-password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _HASHER.verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, not a crash
        return False


def check_password_rules(password: str, username: str = "", display_name: str = "") -> None:
    """Raise WeakPassword (a ValueError) with a reason a person can act on (`rules`)."""
    rules.check_password(password, username=username, names=[display_name])


def _hash_cookie(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def get_user(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_by_username(*, session: Session, username: str) -> User | None:
    name = unicodedata.normalize("NFC", username.strip())
    return session.exec(select(User).where(User.username == name)).first()


def list_users(*, session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.username)).all())


def count_users(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(User)).one())


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    station_ids: list[int] | None = None,
    display_name: str = "",
    must_change_password: bool = False,
) -> User:
    """Add a user (flushes, does not commit). Raises an AccountsError (a ValueError) for a
    username outside `rules`, no or a bad role, a station manager without a station, a taken
    name or a weak password."""
    username = rules.check_username(username)
    if not role:
        raise UnknownRole(
            f"choose a role: {', '.join(ROLES)}", zh="请选择角色：管理员、调度员或站长"
        )
    if role not in ROLES:
        raise UnknownRole(
            f"unknown role {role!r}; expected one of {', '.join(ROLES)}",
            zh=f"没有 {role!r} 这个角色：请选择管理员、调度员或站长",
        )
    if role == "station_manager" and not station_ids:
        raise StationsRequired(
            "a station_manager needs at least one station", zh="站长必须选择一个站点"
        )
    if get_by_username(session=session, username=username) is not None:
        raise UsernameTaken(f"the username {username!r} is taken", zh=f"用户名 {username} 已被使用")
    check_password_rules(password, username, display_name)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        station_ids=sorted(station_ids or []) if role == "station_manager" else [],
        display_name=display_name,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    return user


def set_password(*, session: Session, user: User, password: str, must_change: bool = False) -> None:
    """Replace the password and end every session of the user."""
    check_password_rules(password, user.username, user.display_name)
    user.password_hash = hash_password(password)
    user.must_change_password = must_change
    session.add(user)
    revoke_sessions(session=session, user_id=user.id or 0)


def unlock(*, session: Session, user: User) -> None:
    user.failed_attempts = 0
    user.last_failed_at = None
    user.locked_until = None
    session.add(user)


def set_disabled(*, session: Session, user: User, disabled: bool) -> None:
    """Disable (every session ends at once) or enable a user."""
    user.disabled = disabled
    session.add(user)
    if disabled:
        revoke_sessions(session=session, user_id=user.id or 0)


def reset_password(*, session: Session, user: User) -> str:
    """Give the user a new one-time password (returned, to be shown once): it must be
    replaced at the next login, every session ends, and a lock is lifted, since the person
    locked out is usually the one who asked. Raises UserDisabled for a disabled user."""
    if user.disabled:
        raise UserDisabled(
            "the user is disabled: enable them before resetting the password",
            zh="该用户已停用：请先启用，再重置密码",
        )
    password = new_one_time_password()
    set_password(session=session, user=user, password=password, must_change=True)
    unlock(session=session, user=user)
    return password


def actor_for_user(user: User) -> Actor:
    return Actor(name=user.username, role=user.role, station_ids=frozenset(user.station_ids or []))


def _recent_attempts_from(session: Session, address: str, now: datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.address == address, LoginAttempt.at >= now - ADDRESS_WINDOW)
        ).one()
    )


def authenticate(*, session: Session, username: str, password: str, address: str = "") -> LoggedIn:
    """Check a login and open a session (commits the attempt either way).

    Raises LoginRefused. A locked account stays locked even for the right password, and an
    unknown username costs a hash verification like a known one, so neither timing nor the
    answer tells which usernames exist."""
    now = utcnow()
    username = username.strip()[:64]
    if address and _recent_attempts_from(session, address, now) >= MAX_ATTEMPTS_PER_ADDRESS:
        _record(session, username, address, ok=False, reason="rate_limited")
        session.commit()
        raise LoginRefused("rate_limited", now + ADDRESS_WINDOW)
    user = get_by_username(session=session, username=username) if username else None
    if user is None:
        verify_password(password, _dummy_hash())
        _record(session, username, address, ok=False, reason="invalid")
        session.commit()
        raise LoginRefused("invalid")
    locked_until = aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        _record(session, username, address, ok=False, reason="locked")
        session.commit()
        raise LoginRefused("locked", locked_until)
    try:
        valid, updated_hash = _HASHER.verify_and_update(password, user.password_hash)
    except Exception:  # a malformed stored hash is a failed login, not a crash
        valid, updated_hash = False, None
    if not valid:
        _register_failure(session, user, now)
        _record(session, username, address, ok=False, reason="invalid")
        session.commit()
        locked_until = aware(user.locked_until)
        if locked_until is not None and locked_until > now:
            raise LoginRefused("locked", locked_until)
        raise LoginRefused("invalid")
    if user.disabled:
        _record(session, username, address, ok=False, reason="disabled")
        session.commit()
        raise LoginRefused("disabled")
    if updated_hash is not None:  # the hashing parameters have been raised since
        user.password_hash = updated_hash
    user.failed_attempts = 0
    user.last_failed_at = None
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    _record(session, username, address, ok=True, reason="ok")
    logged_in = open_session(session=session, user=user)
    session.commit()
    return logged_in


def _register_failure(session: Session, user: User, now: datetime) -> None:
    last = aware(user.last_failed_at)
    if last is None or now - last > FAILURE_WINDOW:
        user.failed_attempts = 0
    user.failed_attempts += 1
    user.last_failed_at = now
    if user.failed_attempts >= MAX_FAILURES:
        user.locked_until = now + LOCK_DURATION
    session.add(user)


def _record(session: Session, username: str, address: str, *, ok: bool, reason: str) -> None:
    session.add(LoginAttempt(username=username, address=address[:64], ok=ok, reason=reason))


def open_session(*, session: Session, user: User) -> LoggedIn:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_hash_cookie(cookie),
            user_id=user.id or 0,
            csrf_token=csrf,
            expires_at=utcnow() + SESSION_LIFETIME,
        )
    )
    return LoggedIn(cookie=cookie, csrf_token=csrf, user=user)


def session_for_cookie(*, session: Session, cookie: str) -> tuple[UserSession, User] | None:
    """The live session and its user for a cookie value, or None (expired, revoked, disabled)."""
    if not cookie or len(cookie) > 128:
        return None
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == _hash_cookie(cookie))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    expires = aware(row.expires_at)
    if expires is None or expires <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return row, user


def end_session(*, session: Session, cookie: str) -> None:
    found = session_for_cookie(session=session, cookie=cookie)
    if found is not None:
        found[0].revoked_at = utcnow()
        session.add(found[0])


def revoke_sessions(*, session: Session, user_id: int) -> None:
    for row in session.exec(
        select(UserSession).where(
            UserSession.user_id == user_id,
            UserSession.revoked_at == None,  # noqa: E711
        )
    ).all():
        row.revoked_at = utcnow()
        session.add(row)


def new_one_time_password() -> str:
    """A password to print once: 16 characters from an alphabet without look-alikes (about 92
    bits), drawn again in the rare case the password rules would refuse it (a run like "abcd"
    lowers zxcvbn's estimate), so a one-time password is never one its owner could not set."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(16))
        try:
            rules.check_password(password)
        except WeakPassword:
            continue
        return password


def ensure_first_admin(*, session: Session) -> str | None:
    """Create the `admin` user with a one-time password if there are no users yet; returns
    the password (to print once) or None when users exist."""
    if count_users(session=session) > 0:
        return None
    password = new_one_time_password()
    create_user(
        session=session,
        username="admin",
        password=password,
        role="admin",
        display_name="Administrator",
        must_change_password=True,
    )
    session.commit()
    return password


def first_start_hook(session: Session, console: Any) -> None:
    """`nuanliu run`'s first start: no default password, but a one-time `admin` login that is
    printed once and must be replaced at the first login."""
    password = ensure_first_admin(session=session)
    if password is not None:
        console.print(
            "Board login (shown once; you must choose a new password at first login): "
            f"user [bold]admin[/], password [bold]{password}[/]"
        )
