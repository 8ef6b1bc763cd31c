"""The SMS log's logic: counting segments, queueing outbound messages, storing inbound ones.

No HTTP and no gateway calls here: a queued row is delivered by the sender after the caller's
transaction commits, so a message is sent only if the decision to send it was stored.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, or_
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.sms.errors import InvalidMessage
from coordinator.sms.models import MAX_BODY_CHARS, SmsMessage
from coordinator.sms.replies import parse_reply
from coordinator.sms.templates import render, template_id, values
from coordinator.volunteers.service import normalise_phone, volunteer_ids_by_phone
from events.outbox import stage_many
from events.payloads.sms import SmsReceived

#: Set after a transaction that queued a message commits, so the sender delivers at once
#: instead of on its next poll (the same idea as `events.outbox.WAKE`, but after commit, since
#: a row the sender cannot see yet is no use to it).
WAKE = threading.Event()

# GSM 03.38: the basic set costs one septet, the extension table two (escape + char).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")


#: the column's width; Twilio's ids are 34 characters
MAX_PROVIDER_SID = 64


def segments(text: str) -> tuple[int, str]:
    """How many SMS parts `text` needs and in which encoding.

    GSM-7 fits 160 septets in one part and 153 per part when split; anything outside the GSM
    alphabet (Chinese) travels as UCS-2: 70 UTF-16 units in one part, 67 per part when split."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text):
        septets = sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


def check_body(body: str) -> str:
    """`body` if it is fit to store and send: not empty, at most 1,600 characters, no control
    characters other than line breaks and tabs, no lone surrogates. Raises InvalidMessage."""
    if not isinstance(body, str):
        raise InvalidMessage("body must be text")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidMessage(f"body is longer than {MAX_BODY_CHARS} characters")
    for ch in body:
        category = unicodedata.category(ch)
        if category == "Cs":
            raise InvalidMessage("body is not valid Unicode (lone surrogate)")
        if category == "Cc" and ch not in "\n\r\t":
            raise InvalidMessage(f"body contains the control character U+{ord(ch):04X}")
    return body


def _wake_after_commit(session: Session) -> None:
    # One listener per session until it fires; after a rollback it stays and fires on the
    # session's next commit, which is at worst one spurious (harmless) wake.
    if session.info.get("sms_wake_pending"):
        return
    session.info["sms_wake_pending"] = True

    def wake(_session: Any) -> None:
        session.info.pop("sms_wake_pending", None)
        WAKE.set()

    event.listen(session, "after_commit", wake, once=True)


def queue_outbound(
    *,
    session: Session,
    phone: str,
    body: str,
    kind: str = "info",
    volunteer_id: int | None = None,
    assignment_id: int | None = None,
    template: str | None = None,
    params: dict[str, Any] | None = None,
) -> SmsMessage:
    """Queue a text to `phone` inside the caller's transaction and return the row. It is not
    flushed here (thousands of offers are queued in one transaction and inserted in one
    batch): its `id` is set when the caller's session flushes or commits.

    The sender delivers it after the transaction commits (never if it rolls back), exactly
    once: it is claimed before the gateway is called and never resent automatically.
    Raises InvalidPhone or InvalidMessage for a number or body that cannot be sent."""
    e164 = normalise_phone(phone, mobile_only=False)
    check_body(body)
    if not body.strip():
        raise InvalidMessage("body is empty")
    count, encoding = segments(body)
    now = utcnow()
    row = SmsMessage(
        direction="outbound",
        phone=e164,
        body=body,
        segments=count,
        encoding=encoding,
        status="queued",
        volunteer_id=volunteer_id,
        assignment_id=assignment_id,
        kind=kind[:24],
        template=template,
        params=_plain(params) if params else None,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    _wake_after_commit(session)
    return row


def _plain(params: dict[str, Any]) -> dict[str, str]:
    """Template parameters as strings (lists joined), as providers take them."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, list | tuple):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


def queue_template(
    *,
    session: Session,
    phone: str,
    template: str,
    lang: str = "zh",
    kind: str | None = None,
    volunteer_id: int | None = None,
    assignment_id: int | None = None,
    **params: Any,
) -> SmsMessage:
    """Render `template` in `lang` and queue it (see :func:`queue_outbound`); the template's
    id (`templates.template_id`: its kind, `kind.en` in English) and its variables' values
    are kept, since the Chinese providers send only approved templates with parameters."""
    body = render(template, lang, **params)
    return queue_outbound(
        session=session,
        phone=phone,
        body=body,
        kind=kind or template,
        volunteer_id=volunteer_id,
        assignment_id=assignment_id,
        template=template_id(template, lang),
        params=values(template, lang, **params),
    )


@dataclass(frozen=True)
class Inbound:
    """A received text about to be stored: `phone` in E.164 and `body` checked (see
    :func:`inbound`); `announce=False` records it without acting on it (a flood)."""

    phone: str
    body: str
    gateway: str = "api"
    provider_sid: str | None = None
    announce: bool = True


def inbound(
    *, phone: str, body: str, gateway: str = "api", provider_sid: str | None = None
) -> Inbound:
    """A text from the phone network or a dispatcher, checked before anything is stored. The
    sender's number may be any valid number (a landline's SMS service too).
    Raises InvalidPhone/InvalidMessage."""
    if provider_sid is not None and len(provider_sid) > MAX_PROVIDER_SID:
        raise InvalidMessage(f"provider message id is longer than {MAX_PROVIDER_SID} characters")
    return Inbound(
        phone=normalise_phone(phone, mobile_only=False),
        body=check_body(body),
        gateway=gateway[:16],
        provider_sid=provider_sid,
    )


def record_inbound(
    *,
    session: Session,
    phone: str,
    body: str,
    provider_sid: str | None = None,
    gateway: str = "api",
    announce: bool = True,
) -> SmsMessage:
    """Store one received text (see :func:`record_inbound_many`).
    Raises InvalidPhone/InvalidMessage."""
    text = inbound(phone=phone, body=body, gateway=gateway, provider_sid=provider_sid)
    (row,) = record_inbound_many(session=session, texts=[replace(text, announce=announce)])
    return row


def record_inbound_many(*, session: Session, texts: list[Inbound]) -> list[SmsMessage]:
    """Store received texts and stage an `SmsReceived` for each announced one, in the
    caller's transaction, with one insert of the texts and one of the events; returns the
    rows, flushed (ids set). Each text's volunteer is linked when its number is on the
    roster. A text not announced is recorded with kind "flood": nobody acts on it or answers
    it."""
    if not texts:
        return []
    volunteers = volunteer_ids_by_phone(session=session, phones={t.phone for t in texts})
    now = utcnow()
    rows = []
    for text in texts:
        count, encoding = segments(text.body)
        rows.append(
            SmsMessage(
                direction="inbound",
                phone=text.phone,
                body=text.body,
                segments=count,
                encoding=encoding,
                status="received",
                gateway=text.gateway,
                provider_sid=text.provider_sid,
                volunteer_id=volunteers.get(text.phone),
                kind="reply" if text.announce else "flood",
                created_at=now,
                updated_at=now,
            )
        )
    session.add_all(rows)
    session.flush()
    stage_many(
        session,
        [
            received(row.id, row.phone, row.body)
            for text, row in zip(texts, rows, strict=True)
            if text.announce and row.id is not None
        ],
    )
    return rows


#: statuses of a text that was handed to the gateway and may have reached the phone (an
#: undelivered one did not: the carrier said so)
HANDED_OVER = ("sending", "sent", "delivered", "unknown")


#: what a phone's screen holds: the texts it sent, and those handed to the gateway for it
ON_THE_PHONE = ("received", *HANDED_OVER)


@dataclass(frozen=True)
class Inbox:
    """One phone's recent texts as its screen shows them (oldest first)."""

    phone: str
    messages: list[SmsMessage]
    #: when anything on this screen last changed
    changed_at: datetime


def inboxes(
    *,
    session: Session,
    changed_since: datetime | None = None,
    phones: set[str] | None = None,
    phone_part: str | None = None,
    limit: int = 200,
    per_phone: int = 20,
) -> tuple[list[Inbox], int | None]:
    """The phones with texts, the most recently changed first: at most `limit` phones and
    their newest `per_phone` texts. `changed_since` keeps only phones with a text stored or
    moved on since then (the caller overlaps its cursor: commits land out of stamp order);
    `phones`/`phone_part` keep those named or whose number contains the digits. The count is
    how many phones match in all, asked for only without `changed_since` (it scans them)."""
    shown = col(SmsMessage.status).in_(ON_THE_PHONE)
    conditions: list[Any] = [shown]
    if phones is not None or phone_part:
        options: list[Any] = []
        if phones:
            options.append(col(SmsMessage.phone).in_(phones))
        if phone_part:
            options.append(col(SmsMessage.phone).contains(phone_part))
        if not options:
            return [], 0
        conditions.append(or_(*options))
    changed = func.max(SmsMessage.updated_at)
    query = sql_select(col(SmsMessage.phone), changed).where(*conditions)
    if changed_since is not None:
        query = query.where(col(SmsMessage.updated_at) >= changed_since)
    rows = session.execute(
        query.group_by(col(SmsMessage.phone)).order_by(changed.desc()).limit(limit)
    ).all()
    total = None
    if changed_since is None:
        total = int(
            session.execute(
                sql_select(func.count(func.distinct(SmsMessage.phone))).where(*conditions)
            ).scalar_one()
        )
    if not rows:
        return [], total
    order = {str(phone): i for i, (phone, _) in enumerate(rows)}
    rank = (
        func.row_number()
        .over(partition_by=col(SmsMessage.phone), order_by=col(SmsMessage.id).desc())
        .label("rank")
    )
    newest = (
        sql_select(col(SmsMessage.id), rank)
        .where(shown, col(SmsMessage.phone).in_(order))
        .subquery()
    )
    messages = session.exec(
        select(SmsMessage)
        .join(newest, newest.c.id == SmsMessage.id)
        .where(newest.c.rank <= per_phone)
        .order_by(col(SmsMessage.id))
    ).all()
    by_phone: dict[str, list[SmsMessage]] = {phone: [] for phone in order}
    for message in messages:
        by_phone[message.phone].append(message)
    found = []
    for phone, at in rows:
        found.append(Inbox(str(phone), by_phone[str(phone)], at))
    return found, total


def was_texted(*, session: Session, assignment_id: int, template: str) -> bool:
    """Whether a text of `template` (in either language) about the assignment was handed to
    the gateway."""
    return (
        session.exec(
            select(SmsMessage.id).where(
                SmsMessage.assignment_id == assignment_id,
                col(SmsMessage.template).in_((template, f"{template}.en")),
                col(SmsMessage.status).in_(HANDED_OVER),
            )
        ).first()
        is not None
    )


def was_queued(*, session: Session, assignment_id: int, template: str) -> bool:
    """Whether a text of `template` (in either language) about the assignment was queued,
    sent or not (a text to be sent once must not be queued again while the first waits for
    the gateway)."""
    return (
        session.exec(
            select(SmsMessage.id).where(
                SmsMessage.assignment_id == assignment_id,
                col(SmsMessage.template).in_((template, f"{template}.en")),
                SmsMessage.direction == "outbound",
            )
        ).first()
        is not None
    )


def unsent_count(*, session: Session) -> int:
    """Outgoing texts queued and not yet handed to the gateway."""
    return int(
        session.exec(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.status == "queued")
        ).one()
    )


def inbound_counts_since(*, session: Session, phones: set[str], since: datetime) -> dict[str, int]:
    """How many texts each of `phones` sent us since `since` (phones with none are left out)."""
    if not phones:
        return {}
    rows = session.exec(
        select(SmsMessage.phone, func.count())
        .where(
            col(SmsMessage.phone).in_(phones),
            SmsMessage.direction == "inbound",
            col(SmsMessage.created_at) >= since,
        )
        .group_by(col(SmsMessage.phone))
    ).all()
    return {phone: int(n) for phone, n in rows}


#: the kinds of text we send on our own when a text could not be acted on; an auto-responder
#: answering them would answer forever, so they are limited per number (see
#: :func:`auto_answers_since`). Answers to real actions (accepted, declined…) are not.
AUTO_ANSWER_KINDS = (
    "help",
    "unknown_number",
    "opted_out",
    # a sign-up that changed nothing (issue 15): a flood of `报名` from one number is
    # answered at most `auto_answer_limit` times an hour, then only stored
    "signup_format",
    "signup_bad_district",
    "signup_duplicate",
    "signup_pending",
    "signup_refused_before",
)
#: the window `Settings.auto_answer_limit` counts in
AUTO_ANSWER_WINDOW = timedelta(hours=1)


def auto_answers_since(*, session: Session, phone: str, since: datetime) -> int:
    """How many automatic answers (AUTO_ANSWER_KINDS) were queued to `phone` since `since`:
    the stored ones (so the count holds across processes and restarts) plus those queued in
    this transaction and not flushed yet. One indexed query (phone, kind, created_at)."""
    try:
        e164 = normalise_phone(phone, mobile_only=False)
    except ValueError:
        return 0  # nothing can be queued to it either
    with session.no_autoflush:  # offers queued in bulk stay unflushed (see queue_outbound)
        stored = session.exec(
            select(func.count())
            .select_from(SmsMessage)
            .where(
                SmsMessage.phone == e164,
                col(SmsMessage.kind).in_(AUTO_ANSWER_KINDS),
                col(SmsMessage.created_at) >= since,
                SmsMessage.direction == "outbound",
            )
        ).one()
    pending = sum(
        1
        for row in session.new
        if isinstance(row, SmsMessage)
        and row.direction == "outbound"
        and row.phone == e164
        and row.kind in AUTO_ANSWER_KINDS
        and row.created_at >= since
    )
    return int(stored) + pending


def get_by_provider_sid(*, session: Session, provider_sid: str) -> SmsMessage | None:
    return session.exec(select(SmsMessage).where(SmsMessage.provider_sid == provider_sid)).first()


def outbound_by_provider_sids(
    *, session: Session, provider_sids: set[str]
) -> dict[str, SmsMessage]:
    """Provider message id → the outbound message sent under it (one indexed query)."""
    if not provider_sids:
        return {}
    rows = session.exec(
        select(SmsMessage).where(
            col(SmsMessage.provider_sid).in_(provider_sids), SmsMessage.direction == "outbound"
        )
    ).all()
    return {row.provider_sid: row for row in rows if row.provider_sid is not None}


def inbound_seen_many(*, session: Session, provider_sids: set[str]) -> dict[str, SmsMessage]:
    """Provider message id → the inbound message already stored under it."""
    if not provider_sids:
        return {}
    rows = session.exec(
        select(SmsMessage)
        .where(col(SmsMessage.provider_sid).in_(provider_sids), SmsMessage.direction == "inbound")
        .order_by(col(SmsMessage.id))
    ).all()
    seen: dict[str, SmsMessage] = {}
    for row in rows:
        assert row.provider_sid is not None
        seen.setdefault(row.provider_sid, row)
    return seen


#: how far along a status is; a delivery report never moves a message backwards
_PROGRESS = {
    "queued": 0,
    "sending": 1,
    "unknown": 1,
    "sent": 2,
    "failed": 3,
    "undelivered": 3,
    "delivered": 4,
}


def apply_status(
    *, session: Session, message: SmsMessage, status: str, error: str | None = None
) -> bool:
    """Move an outbound message to a provider-reported status. Reports arrive out of order,
    so a status never moves back (a late "sent" after "delivered" changes nothing).
    Returns whether the row changed."""
    if message.direction != "outbound" or status not in _PROGRESS:
        return False
    if _PROGRESS[status] <= _PROGRESS.get(message.status, 0):
        return False
    message.status = status
    if error:
        message.error = error[:500]
    message.updated_at = utcnow()
    session.add(message)
    return True


def list_messages(
    *,
    session: Session,
    direction: str | None = None,
    phone: str | None = None,
    volunteer_id: int | None = None,
    assignment_id: int | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[SmsMessage], int]:
    """A page of the log, newest first, and the total that matches."""
    query = select(SmsMessage)
    count_query = select(func.count()).select_from(SmsMessage)
    conditions = []
    if direction:
        conditions.append(SmsMessage.direction == direction)
    if phone:
        conditions.append(SmsMessage.phone == phone)
    if volunteer_id is not None:
        conditions.append(SmsMessage.volunteer_id == volunteer_id)
    if assignment_id is not None:
        conditions.append(SmsMessage.assignment_id == assignment_id)
    if status:
        conditions.append(SmsMessage.status == status)
    for condition in conditions:
        query = query.where(condition)
        count_query = count_query.where(condition)
    rows = session.exec(query.order_by(col(SmsMessage.id).desc()).offset(offset).limit(limit)).all()
    total = int(session.exec(count_query).one())
    return list(rows), total


def received(message_id: int, phone: str, body: str) -> SmsReceived:
    """The event for a text that arrived, with the parser's one reading of it."""
    reply = parse_reply(body)
    return SmsReceived(
        message_id=message_id,
        phone=phone,
        body=body,
        intent=reply.intent,
        code=reply.code,
        rest=reply.rest,
    )


@dataclass(frozen=True)
class SmsUsage:
    """What a set of assignments cost in texts: messages out and the segments billed for them
    (a text that failed before the provider took it is billed nothing), messages in."""

    outbound: int
    segments: int
    failed: int
    inbound: int
    by_kind: dict[str, int]


def usage_for_assignments(*, session: Session, assignment_ids: Iterable[int]) -> SmsUsage:
    """The texts about `assignment_ids` (offers, reminders, stand-downs and the replies)."""
    ids = list(assignment_ids)
    outbound = segments = failed = inbound = 0
    by_kind: dict[str, int] = {}
    for i in range(0, len(ids), 900):
        # five columns: more than sqlmodel's typed select() takes, so SQLAlchemy's own
        for direction, kind, status, n, segs in session.execute(
            sql_select(
                col(SmsMessage.direction),
                col(SmsMessage.kind),
                col(SmsMessage.status),
                func.count(),
                func.coalesce(func.sum(SmsMessage.segments), 0),
            )
            .where(col(SmsMessage.assignment_id).in_(ids[i : i + 900]))
            .group_by(col(SmsMessage.direction), col(SmsMessage.kind), col(SmsMessage.status))
        ).all():
            if direction == "inbound":
                inbound += int(n)
                continue
            outbound += int(n)
            by_kind[kind] = by_kind.get(kind, 0) + int(n)
            if status == "failed":
                failed += int(n)
            else:
                segments += int(segs)
    return SmsUsage(outbound, segments, failed, inbound, by_kind)
