"""A volunteer's text, already read by the parser (`sms.replies`), acted on: accept, decline,
done, stop, or an answer that explains; read for a whole batch of texts at once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from coordinator.accounts.service import record_audit
from coordinator.common import mask_phone, utcnow
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows.overrides import cancel_assignment
from coordinator.dispatch.flows.responses import Result, accept, complete, decline, in_time
from coordinator.dispatch.models import FILLED, LIVE, Assignment, Task
from coordinator.dispatch.models import AssignmentStatus as S
from coordinator.logistics import service as logistics
from coordinator.sms import service as sms
from coordinator.sms.replies import Reply
from coordinator.volunteers import service as roster
from coordinator.volunteers.service import InvalidPhone, Volunteer

log = logging.getLogger(__name__)

AUTO_WINDOW = sms.AUTO_ANSWER_WINDOW


class ReplyResult(StrEnum):
    """What a volunteer's text did (for logs, metrics and tests)."""

    UNKNOWN_NUMBER = "unknown_number"
    #: not ours to act on (a receipt, a station manager, an opted-out volunteer, a short code)
    IGNORED = "ignored"
    OPTED_OUT = "opted_out"
    HELP = "help"
    #: several offers are open and the text did not say which
    WHICH_OFFER = "which_offer"
    OFFER_CLOSED = "offer_closed"
    ACCEPTED = Result.ACCEPTED.value
    DECLINED = Result.DECLINED.value
    COMPLETED = Result.COMPLETED.value
    ALREADY = Result.ALREADY.value


#: which open assignments each intent acts on
_WANTED: dict[str, tuple[S, ...]] = {
    "accept": (S.OFFERED,),
    "decline": LIVE,
    "done": (S.ACCEPTED,),
}


def _task_title(session: Session, a: Assignment, lang: str) -> str:
    task = session.get(Task, a.task_id)
    if task is None:
        return ""
    return (task.title_en or task.title) if lang == "en" else task.title


@dataclass
class ReplyContext:
    """What answering texts needs to know about their senders, read for many texts at once
    (a few queries per batch instead of several per text). The assignments are the session's
    own objects, so a decision earlier in the batch (an accept) is seen by the texts after
    it; the state change itself always re-reads its assignment under the task's lock."""

    volunteers: dict[str, Volunteer]
    #: volunteer id → offered and accepted assignments, newest first
    live: dict[int, list[Assignment]]
    #: volunteer id → newest assignment; (volunteer id, short code) → newest with that code
    newest: dict[int, Assignment]
    newest_by_code: dict[tuple[int, str], Assignment]
    #: phones of station managers (their texts are receipts, not replies)
    managers: set[str]


def reply_context(*, session: Session, texts: Sequence[tuple[str, Reply]]) -> ReplyContext:
    """The context for answering `texts` ((phone, reply) pairs, phones in E.164)."""
    phones = {phone for phone, _ in texts}
    volunteers = roster.by_phones(session=session, phones=phones)
    ids = {v.id for v in volunteers.values() if v.id is not None}
    codes = {
        (volunteers[phone].id or 0, reply.code)
        for phone, reply in texts
        if phone in volunteers and reply.code
    }
    live: dict[int, list[Assignment]] = {}
    for a in svc.assignments_of_many(session=session, volunteer_ids=ids, statuses=LIVE):
        live.setdefault(a.volunteer_id, []).append(a)
    newest = {a.volunteer_id: a for a in svc.newest_assignments(session=session, volunteer_ids=ids)}
    by_code = {
        (a.volunteer_id, a.short_code): a
        for a in svc.newest_assignments(session=session, volunteer_ids=ids, codes=codes)
    }
    strangers = phones - volunteers.keys()
    managers = logistics.manager_phone_set(session=session) & strangers if strangers else set()
    return ReplyContext(volunteers, live, newest, by_code, managers)


def handle_reply(
    *,
    session: Session,
    phone: str,
    reply: Reply,
    auto_answer_limit: int,
    now: datetime | None = None,
    context: ReplyContext | None = None,
    answered_at: datetime | None = None,
) -> ReplyResult:
    """Act on a volunteer's text (`reply`, as the parser read it when it arrived) and queue
    any direct answer; returns what happened. `context` (from :func:`reply_context`, for many
    texts at once) must include `phone`; without it one is read for this text alone.
    `answered_at` is when the text arrived (`now` by default): a "yes" sent before its offer's
    deadline counts even when the offer expired while the text waited (see
    `responses.accept`).

    Automatic answers (help, unknown_number, opted_out) are queued at most
    `auto_answer_limit` times per number per hour (`Settings.auto_answer_limit`); beyond that
    the text is still acted on (an opt-out still opts out) and the outcome is the same, but
    nothing is queued."""
    now = now or utcnow()
    answered = answered_at or now
    limit = auto_answer_limit
    R = ReplyResult

    def may_answer(to: str) -> bool:
        sent = sms.auto_answers_since(session=session, phone=to, since=now - AUTO_WINDOW)
        if sent < limit:
            return True
        log.warning(
            "not answering %s automatically: %d automatic answers in the last hour",
            mask_phone(to),
            sent,
        )
        return False

    if reply.intent == "receipt":
        return R.IGNORED  # a station manager's receipt: logistics handles it
    context = context or reply_context(session=session, texts=[(phone, reply)])
    volunteer = context.volunteers.get(phone)
    if volunteer is None:
        if phone in context.managers:
            return R.IGNORED
        try:
            if may_answer(phone):
                sms.queue_template(
                    session=session, phone=phone, template="unknown_number", lang="zh"
                )
        except InvalidPhone:
            return R.IGNORED  # not a number we could answer (a short code, a gateway test)
        return R.UNKNOWN_NUMBER
    vid, lang = volunteer.id, volunteer.language

    def say(template: str, a: Assignment | None = None, **params: Any) -> None:
        sms.queue_template(
            session=session,
            phone=volunteer.phone,
            template=template,
            lang=lang,
            volunteer_id=vid,
            assignment_id=a.id if a else None,
            **params,
        )

    def say_auto(template: str) -> None:
        if may_answer(volunteer.phone):
            say(template)

    if reply.intent == "stop":
        if volunteer.opted_out:
            return R.IGNORED
        opt_out(session=session, volunteer=volunteer)
        say_auto("opted_out")
        return R.OPTED_OUT
    if volunteer.opted_out:
        return R.IGNORED  # they asked for no more messages
    if reply.intent == "unknown":
        say_auto("help")
        return R.HELP
    assert vid is not None
    statuses = _WANTED[reply.intent]
    open_ = [a for a in context.live.get(vid, []) if a.status in statuses]
    if reply.code:
        open_ = [a for a in open_ if a.short_code == reply.code]
    if not open_:
        recent = (
            context.newest_by_code.get((vid, reply.code)) if reply.code else context.newest.get(vid)
        )
        if reply.intent == "accept" and recent and recent.status in FILLED:
            return R.ALREADY  # a repeated "yes": they are confirmed already
        if (
            reply.intent == "accept"
            and recent
            and recent.status == S.EXPIRED
            and in_time(recent, answered)
        ):
            open_ = [recent]  # their "yes" was in time; it waited while the offer expired
        elif reply.intent == "accept" and recent:
            say("offer_closed", recent, task=_task_title(session, recent, lang))
            return R.OFFER_CLOSED
        else:
            say_auto("help")
            return R.HELP
    if len(open_) > 1:
        say("which_offer", codes=[a.short_code for a in open_])
        return R.WHICH_OFFER
    target = open_[0]
    assert target.id is not None
    if reply.intent == "accept":
        outcome = accept(session=session, assignment_id=target.id, now=now, answered_at=answered)
        if outcome.result == Result.CLOSED:
            say("offer_closed", target, task=_task_title(session, target, lang))
            return R.OFFER_CLOSED
        return R(outcome.result.value)
    if reply.intent == "decline":
        return R(decline(session=session, assignment_id=target.id, now=now).result.value)
    return R(complete(session=session, assignment_id=target.id, now=now).result.value)


def opt_out(*, session: Session, volunteer: Volunteer) -> int:
    """The volunteer sent STOP: no more messages, and their open assignments are cancelled
    (and refilled). Returns how many were cancelled."""
    roster.opt_out(session=session, volunteer=volunteer)
    open_ = svc.assignments_of(session=session, volunteer_id=volunteer.id or 0, statuses=LIVE)
    for a in open_:
        cancel_assignment(
            session=session,
            assignment_id=a.id or 0,
            actor=f"volunteer:{volunteer.id}",
            reason="volunteer opted out",
            by="volunteer",
        )
    record_audit(
        session=session,
        actor=f"volunteer:{volunteer.id}",
        action="volunteer.opted_out",
        subject=f"volunteer:{volunteer.id}",
        detail={"cancelled": len(open_)},
    )
    return len(open_)
