"""A volunteer's text, already read by the parser (`sms.replies`), acted on: accept, decline,
done, stop, sign up, check in, check out, hours, or an answer that explains; read for a
whole batch of texts at once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from coordinator.common import aware, mask_phone, utcnow
from coordinator.config import Settings
from coordinator.dispatch import errors
from coordinator.dispatch import service as svc
from coordinator.dispatch.flows import attendance, opting, rota
from coordinator.dispatch.flows.attendance import Attendance, local_time
from coordinator.dispatch.flows.responses import Result, accept, complete, decline, in_time
from coordinator.dispatch.models import FILLED, LIVE, Assignment, Task
from coordinator.dispatch.models import AssignmentStatus as S
from coordinator.logistics import service as logistics
from coordinator.sms import service as sms
from coordinator.sms.replies import Reply, signup_fields
from coordinator.volunteers import flows as signups
from coordinator.volunteers import service as roster
from coordinator.volunteers.flows import SignupResult
from coordinator.volunteers.service import InvalidPhone, Volunteer, VolunteerStatus

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
    #: a sign-up landed in the approval queue
    SIGNED_UP = "signed_up"
    #: a sign-up that changed nothing (already known, wrong form, unknown district)
    SIGNUP_REFUSED = "signup_refused"
    #: a text from someone whose sign-up still waits (or was declined)
    NOT_APPROVED = "not_approved"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    #: a check-in or check-out that was not one (twice, too early, not checked in, …)
    ATTENDANCE_REFUSED = "attendance_refused"
    #: several tasks, and the text did not say which
    WHICH_TASK = "which_task"
    HOURS = "hours"
    #: a rota shift given back in time (issue 15)
    GAVE_BACK = "gave_back"
    #: a give-back refused: too late, or no shift of theirs named
    GIVE_BACK_REFUSED = "give_back_refused"


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
    rules: attendance.Rules | None = None,
    settings: Settings | None = None,
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
    nothing is queued. `rules` are the check-in and hours settings (`Settings`' defaults when
    not given); `settings` give a rota give-back its notice (the defaults when not given)."""
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
        if reply.intent == "signup":
            return _sign_up(session, phone, reply, may_answer)
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

    def say_auto(template: str, **params: Any) -> None:
        if may_answer(volunteer.phone):
            say(template, **params)

    if reply.intent == "stop":
        if volunteer.opted_out:
            return R.IGNORED
        opt_out(session=session, volunteer=volunteer)
        say_auto("opted_out")
        return R.OPTED_OUT
    if reply.intent == "signup":
        say_auto(_KNOWN_ANSWER[signups.known(volunteer).result])
        return R.SIGNUP_REFUSED
    if volunteer.opted_out:
        return R.IGNORED  # they asked for no more messages
    if volunteer.status != VolunteerStatus.ACTIVE:
        say_auto(_KNOWN_ANSWER[signups.known(volunteer).result])
        return R.NOT_APPROVED
    if reply.intent in ("check_in", "check_out", "hours"):
        return _on_shift(session, volunteer, reply, say, rules or attendance.Rules.defaults(), now)
    if reply.intent == "give_back":
        return _give_back(
            session, volunteer, reply, say, settings or Settings.model_construct(), now
        )
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
        if reply.intent == "decline" and recent:
            # a "no" to an offer that is over (expired, declined, cancelled): they were told
            # when it ended; "not understood" would be wrong, and a second answer is noise
            return R.ALREADY
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
    if svc.checked_in_ids(session=session, assignment_ids=[target.id]):
        # `完成` from someone checked in is their check-out
        return _check_out(
            session, volunteer, target, say, rules or attendance.Rules.defaults(), now
        )
    return R(complete(session=session, assignment_id=target.id, now=now).result.value)


#: the answer to a sign-up from a number Nuanliu knows
_KNOWN_ANSWER: dict[SignupResult, str] = {
    SignupResult.PENDING: "signup_pending",
    SignupResult.ON_ROSTER: "signup_duplicate",
    SignupResult.REFUSED_BEFORE: "signup_refused_before",
}


def _sign_up(session: Session, phone: str, reply: Reply, may_answer: Any) -> ReplyResult:
    """A stranger's `报名`: into the approval queue, or told what is wrong with the text."""
    lang = "en" if reply.text.strip().upper().startswith("JOIN") else "zh"

    def answer(template: str, **params: Any) -> None:
        with suppress(InvalidPhone):  # not a number we could answer
            sms.queue_template(session=session, phone=phone, template=template, lang=lang, **params)

    fields = signup_fields(reply.rest)
    if fields is None:
        if may_answer(phone):
            answer("signup_format")
        return ReplyResult.SIGNUP_REFUSED
    outcome = signups.sign_up(
        session=session,
        phone=phone,
        name=fields.name,
        district=fields.district,
        skills=list(fields.skills),
        language=lang,
    )
    if outcome.result == SignupResult.RECEIVED:
        assert outcome.volunteer is not None
        sms.queue_template(
            session=session,
            phone=outcome.volunteer.phone,
            template="signup_received",
            lang=lang,
            volunteer_id=outcome.volunteer.id,
            person=outcome.volunteer.name,
        )
        return ReplyResult.SIGNED_UP
    if outcome.result == SignupResult.INVALID and outcome.column == "phone":
        return ReplyResult.IGNORED  # a landline's SMS service: we cannot text it back
    if may_answer(phone):
        if outcome.result == SignupResult.BAD_DISTRICT:
            answer("signup_bad_district", district=fields.district[:12])
        elif outcome.result == SignupResult.INVALID:
            answer("signup_format")
        else:
            answer(_KNOWN_ANSWER[outcome.result])
    return ReplyResult.SIGNUP_REFUSED


def _on_shift(
    session: Session,
    volunteer: Volunteer,
    reply: Reply,
    say: Any,
    rules: attendance.Rules,
    now: datetime,
) -> ReplyResult:
    """`到`, `离` and `时长` from an active volunteer."""
    R = ReplyResult
    vid = volunteer.id or 0
    if reply.intent == "hours":
        year = now.astimezone(ZoneInfo(rules.tz)).year
        got = attendance.year_hours(
            session=session,
            volunteer_id=vid,
            year=year,
            tz=rules.tz,
            tolerance=rules.tolerance,
            now=now,
        )
        say("hours", year=year, hours=_hours_text(got.total(now)), count=got.tasks)
        return R.HOURS
    word = (
        ("IN" if reply.intent == "check_in" else "OUT")
        if volunteer.language == "en"
        else ("到" if reply.intent == "check_in" else "离")
    )
    accepted = attendance.choose(
        svc.accepted_with_tasks(session=session, volunteer_id=vid), reply.code
    )
    if reply.intent == "check_out":
        inside = svc.checked_in_ids(
            session=session, assignment_ids=[a.id or 0 for a, _ in accepted]
        )
        chosen = [(a, t) for a, t in accepted if a.id in inside]
        if not chosen:
            say("not_checked_in")
            return R.ATTENDANCE_REFUSED
        if len(chosen) > 1:
            codes = [a.short_code for a, _ in chosen]
            say("which_task", codes=codes, word=word, example=codes[0])
            return R.WHICH_TASK
        return _check_out(session, volunteer, chosen[0][0], say, rules, now)
    # a check-in: of the tasks named, the one open for check-in now if only one is
    chosen = accepted
    if len(chosen) > 1:
        open_now = [
            (a, t)
            for a, t in chosen
            if (aware(t.starts_at) or now) - rules.early <= now < (aware(t.ends_at) or now)
        ]
        chosen = open_now or chosen
    if not chosen:
        say("no_task_to_check_in")
        return R.ATTENDANCE_REFUSED
    if len(chosen) > 1:
        codes = [a.short_code for a, _ in chosen]
        say("which_task", codes=codes, word=word, example=codes[0])
        return R.WHICH_TASK
    a, task = chosen[0]
    outcome = attendance.check_in(
        session=session,
        assignment_id=a.id or 0,
        actor=f"volunteer:{vid}",
        source="sms",
        early=rules.early,
        now=now,
    )
    title = _task_title(session, a, volunteer.language)
    start = aware(task.starts_at)
    assert start is not None
    if outcome.result in (
        Attendance.CHECKED_IN,
        Attendance.CHECKED_IN_EARLY,
        Attendance.ALREADY_IN,
    ):
        template = {
            Attendance.CHECKED_IN: "checked_in",
            Attendance.CHECKED_IN_EARLY: "checked_in_early",
            Attendance.ALREADY_IN: "already_checked_in",
        }[outcome.result]
        params: dict[str, Any] = {"task": title, "code": a.short_code}
        params["time"] = local_time(outcome.at or now, rules.tz)
        if template == "checked_in_early":
            params["start"] = local_time(start, rules.tz)
        say(template, a, **params)
        return R.CHECKED_IN if outcome.result != Attendance.ALREADY_IN else R.ATTENDANCE_REFUSED
    if outcome.result == Attendance.TOO_EARLY:
        minutes = int(rules.early.total_seconds() // 60)
        say(
            "check_in_too_early",
            a,
            task=title,
            start=local_time(start, rules.tz),
            minutes=minutes,
            code=a.short_code,
        )
        return R.ATTENDANCE_REFUSED
    say("no_task_to_check_in")
    return R.ATTENDANCE_REFUSED


def _check_out(
    session: Session,
    volunteer: Volunteer,
    a: Assignment,
    say: Any,
    rules: attendance.Rules,
    now: datetime,
) -> ReplyResult:
    outcome = attendance.check_out(
        session=session,
        assignment_id=a.id or 0,
        actor=f"volunteer:{volunteer.id}",
        source="sms",
        tolerance=rules.tolerance,
        now=now,
    )
    if outcome.result == Attendance.CHECKED_OUT:
        served = outcome.served
        say(
            "checked_out",
            a,
            task=_task_title(session, a, volunteer.language),
            time=local_time(outcome.at or now, rules.tz),
            hours=_hours_text(served.hours(now) if served else 0.0),
        )
        return ReplyResult.CHECKED_OUT
    if outcome.result == Attendance.NOT_CHECKED_IN:
        say("not_checked_in")
    return ReplyResult.ATTENDANCE_REFUSED


def _give_back(
    session: Session,
    volunteer: Volunteer,
    reply: Reply,
    say: Any,
    settings: Settings,
    now: datetime,
) -> ReplyResult:
    """`退 K4F`: an accepted shift still to come given back, or told why not (none named,
    which of several, too late)."""
    R = ReplyResult
    vid = volunteer.id or 0
    coming = [
        (a, t)
        for a, t in attendance.choose(
            svc.accepted_with_tasks(session=session, volunteer_id=vid), reply.code
        )
        if (aware(t.starts_at) or now) > now
    ]
    if not coming:
        say("give_back_none")
        return R.GIVE_BACK_REFUSED
    if len(coming) > 1:
        codes = [a.short_code for a, _ in coming]
        word = "BACK" if volunteer.language == "en" else "退"
        say("which_task", codes=codes, word=word, example=codes[0])
        return R.WHICH_TASK
    a, task = coming[0]
    try:
        rota.give_back(
            session=session,
            volunteer_id=vid,
            assignment_id=a.id or 0,
            settings=settings,
            source="sms",
            now=now,
        )
    except errors.GiveBackTooLate:
        say("give_back_too_late", a, **rota.too_late_params(task, volunteer.language, settings))
        return R.GIVE_BACK_REFUSED
    return R.GAVE_BACK


def _hours_text(hours: float) -> str:
    """`3.5`, `4`, `0.25`: hours as a person writes them."""
    return f"{hours:.2f}".rstrip("0").rstrip(".")


def opt_out(*, session: Session, volunteer: Volunteer) -> int:
    """The volunteer sent STOP: no more messages, and their open assignments are cancelled
    (and refilled). Returns how many were cancelled."""
    return opting.opt_out(session=session, volunteer=volunteer, actor=f"volunteer:{volunteer.id}")
