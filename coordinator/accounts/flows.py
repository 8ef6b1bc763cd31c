"""What an admin does to a user from the users page: disable, enable, reset the password.
Each writes its audit row in the caller's transaction (the caller commits)."""

from __future__ import annotations

from sqlmodel import Session

from coordinator.accounts import people
from coordinator.accounts.errors import SelfDemotion
from coordinator.accounts.models import User
from coordinator.accounts.service import Actor, record_audit


def disable_user(*, session: Session, actor: Actor, user: User) -> None:
    """Disable `user`: no login, every session ended. An admin cannot disable themselves (the
    last admin would lock everyone out of the users page)."""
    if user.username == actor.name:
        raise SelfDemotion("admins cannot disable themselves", zh="管理员不能停用自己")
    people.set_disabled(session=session, user=user, disabled=True)
    record_audit(session=session, actor=actor, action="user.disabled", subject=f"user:{user.id}")


def enable_user(*, session: Session, actor: Actor, user: User) -> None:
    people.set_disabled(session=session, user=user, disabled=False)
    record_audit(session=session, actor=actor, action="user.enabled", subject=f"user:{user.id}")


def reset_password(*, session: Session, actor: Actor, user: User) -> str:
    """A new one-time password for `user` (returned to be shown once; never stored or
    audited in clear): it must be changed at the next login and every session ends."""
    password = people.reset_password(session=session, user=user)
    record_audit(
        session=session, actor=actor, action="user.password_reset", subject=f"user:{user.id}"
    )
    return password
