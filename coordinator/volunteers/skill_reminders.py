"""The SMS 30 days before a skill's certificate expires (issue 15), once per expiry.

Once: each `SkillExpiry` row is claimed by a conditional UPDATE (`reminded_for` set to the
date it is about, where it was not that date yet) in the same transaction that queues the
text. Two processes running the job at once both try; the database lets one UPDATE change
the row (on PostgreSQL the second waits for the first's commit and then matches nothing), so
one text goes, and a restart finds the claim stored. A renewed date is a new expiry: its own
reminder falls due 30 days before it.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from coordinator.common import mask_phone
from coordinator.sms import service as sms
from coordinator.volunteers.models import SkillExpiry, Volunteer, VolunteerStatus

log = logging.getLogger(__name__)

#: how long before the expiry the volunteer is told
REMIND_BEFORE = timedelta(days=30)

#: the names the text uses for the playbooks' skills (others are shown as stored)
SKILL_WORDS: dict[str, tuple[str, str]] = {
    "first_aid": ("急救", "first aid"),
    "driving": ("驾驶", "driving"),
    "de_icing": ("除冰", "de-icing"),
    "elderly_care": ("助老", "elderly care"),
    "traffic": ("交通疏导", "traffic control"),
    "legal_aid": ("法律援助", "legal aid"),
    "logistics": ("物流", "logistics"),
    "health_certificate": ("健康证", "health certificate"),
}


def skill_word(skill: str, lang: str) -> str:
    zh, en = SKILL_WORDS.get(skill, (skill, skill))
    return en if lang == "en" else zh


def _claim(session: Session, row_id: int, expires_on: date) -> bool:
    result = session.execute(
        update(SkillExpiry)
        .where(
            col(SkillExpiry.id) == row_id,
            col(SkillExpiry.expires_on) == expires_on,
            or_(
                col(SkillExpiry.reminded_for).is_(None),
                col(SkillExpiry.reminded_for) != expires_on,
            ),
        )
        .values(reminded_for=expires_on)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def remind_expiring(*, session: Session, today: date, limit: int = 2000) -> int:
    """Queue the reminder for every certificate that expires within 30 days from `today`
    (local date) and was not reminded of for that date yet, to volunteers still on the
    roster and not opted out; in the caller's transaction. Returns how many were queued."""
    due = session.exec(
        select(SkillExpiry, Volunteer)
        .join(Volunteer, col(Volunteer.id) == SkillExpiry.volunteer_id)
        .where(
            col(SkillExpiry.expires_on) >= today,
            col(SkillExpiry.expires_on) <= today + REMIND_BEFORE,
            or_(
                col(SkillExpiry.reminded_for).is_(None),
                col(SkillExpiry.reminded_for) != col(SkillExpiry.expires_on),
            ),
            Volunteer.status == VolunteerStatus.ACTIVE,
            Volunteer.opted_out == False,  # noqa: E712
        )
        .order_by(col(SkillExpiry.id))
        .limit(limit)
    ).all()
    sent = 0
    for row, volunteer in due:
        assert row.id is not None
        if not _claim(session, row.id, row.expires_on):
            continue  # another process took it a moment ago
        lang = volunteer.language
        sms.queue_template(
            session=session,
            phone=volunteer.phone,
            template="skill_expiring",
            lang=lang,
            volunteer_id=volunteer.id,
            skill=skill_word(row.skill, lang),
            date=row.expires_on.isoformat(),
            days=(row.expires_on - today).days,
        )
        log.info(
            "skill %s of %s expires %s: reminded",
            row.skill,
            mask_phone(volunteer.phone),
            row.expires_on,
        )
        sent += 1
    return sent
