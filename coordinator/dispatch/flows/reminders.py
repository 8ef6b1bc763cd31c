"""Reminders before a shift starts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.dispatch.models import Assignment, AssignmentStatus, Task
from coordinator.dispatch.texts import task_params
from coordinator.sms import service as sms
from coordinator.volunteers import service as roster


def send_reminders(
    *, session: Session, before: timedelta, tz: str, now: datetime | None = None
) -> int:
    """Queue a reminder for each accepted assignment whose shift starts within `before`."""
    now = now or utcnow()
    rows = session.exec(
        select(Assignment, Task)
        .join(Task, col(Task.id) == Assignment.task_id)
        .where(
            Assignment.status == AssignmentStatus.ACCEPTED,
            Assignment.reminded_at == None,  # noqa: E711
            col(Task.starts_at) <= now + before,
            col(Task.starts_at) > now,
        )
    ).all()
    volunteers = roster.by_ids(session=session, volunteer_ids={a.volunteer_id for a, _ in rows})
    count = 0
    for a, task in rows:
        a.reminded_at = now
        session.add(a)
        volunteer = volunteers.get(a.volunteer_id)
        if volunteer is None or volunteer.opted_out:
            continue
        sms.queue_template(
            session=session,
            phone=volunteer.phone,
            template="reminder",
            lang=volunteer.language,
            kind="reminder",
            volunteer_id=volunteer.id,
            assignment_id=a.id,
            **task_params(task, volunteer.language, tz),
        )
        count += 1
    return count
