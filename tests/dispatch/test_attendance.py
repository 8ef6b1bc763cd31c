"""Check-in and check-out by SMS (issue 15, item 2): `到 [编号]`, `离 [编号]`, `完成` and
`时长` in the forms people type, the edge cases (early, late, forgotten, twice, two tasks,
wrong codes, unknown senders), the answers' local times, and two check-ins at once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from coordinator.dispatch.flows import attendance
from coordinator.dispatch.models import Assignment, ServiceRecord, Task
from coordinator.sms.models import SmsMessage
from coordinator.volunteers.models import Volunteer
from events.outbox import OutboxEvent
from nuanliu.check import check
from tests.dispatch.helpers import add_assignment, add_task, handle_text

RULES = attendance.Rules.defaults()
LEDGER_RULES = {
    "hours_exceed_window",
    "hours_overlap",
    "ledger_out_of_order",
}  # an hour early at most, 30 min tolerance, Asia/Shanghai
#: 08:00 in Guiyang
T0 = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)


def _volunteer(s: Session, lang: str = "zh") -> Volunteer:
    v = s.exec(
        select(Volunteer).where(Volunteer.status == "active", Volunteer.language == lang)
    ).first()
    if v is None:  # the demo roster is Chinese: make one English speaker
        v = s.exec(select(Volunteer).where(Volunteer.status == "active")).first()
        assert v is not None
        v.language = lang
        s.add(v)
        s.flush()
    return v


def _accepted(
    s: Session,
    v: Volunteer,
    *,
    starts: datetime,
    hours: float = 4,
    code: str = "K4F",
    slot: int = 0,
) -> Assignment:
    task = add_task(s, now=starts, starts_in=timedelta(0), lasts=timedelta(hours=hours))
    return add_assignment(s, task, v.id, slot=slot, code=code, status="accepted")


def _text(s: Session, v: Volunteer, body: str, now: datetime) -> str:
    return str(handle_text(s, v.phone, body, now=now, rules=RULES))


def _last(s: Session, phone: str) -> tuple[str, str]:
    m = s.exec(
        select(SmsMessage)
        .where(SmsMessage.phone == phone, SmsMessage.direction == "outbound")
        .order_by(col(SmsMessage.id).desc())
    ).first()
    assert m is not None
    return m.kind, m.body


def _records(s: Session, a: Assignment) -> list[tuple[str, datetime | None]]:
    rows = s.exec(
        select(ServiceRecord)
        .where(ServiceRecord.assignment_id == a.id)
        .order_by(col(ServiceRecord.id))
    ).all()
    return [(r.kind, r.at) for r in rows]


def _served(s: Session, a: Assignment, now: datetime) -> Any:
    task = s.get(Task, a.task_id)
    assert task is not None
    records = s.exec(select(ServiceRecord).where(ServiceRecord.assignment_id == a.id)).all()
    from coordinator.dispatch.hours import served

    return served(
        assignment_id=a.id or 0,
        window_start=task.starts_at,
        window_end=task.ends_at,
        records=records,
        now=now,
        tolerance=RULES.tolerance,
    )


#: every form of a check-in people type: full-width, ideographic spaces, punctuation, order
CHECK_IN_FORMS = ["到 K4F", "到", "到K4F", "到　Ｋ４Ｆ", "到，k4f。", "K4F 到", "签到", "【到】"]


def test_check_in_on_time_in_any_form(engine: Any, demo: None) -> None:
    for body in CHECK_IN_FORMS:
        with Session(engine) as s:
            v = _volunteer(s)
            a = _accepted(s, v, starts=T0)
            now = T0 + timedelta(minutes=5)
            assert _text(s, v, body, now) == "checked_in", body
            assert _records(s, a) == [("check_in", now)]
            kind, text = _last(s, v.phone)
            assert kind == "checked_in" and "08:05已签到" in text and "K4F" in text  # local
            s.rollback()


def test_check_in_then_out_counts_the_time_and_completes(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        assert _text(s, v, "到", T0 + timedelta(minutes=10)) == "checked_in"
        out = T0 + timedelta(hours=3, minutes=40)
        assert _text(s, v, "离", out) == "checked_out"
        assert s.get(Assignment, a.id).status == "completed"  # type: ignore[union-attr]
        kind, text = _last(s, v.phone)
        assert kind == "checked_out" and "11:40已签退" in text and "3.5小时" in text
        assert _served(s, a, out).hours() == 3.5
        # twice: nothing more is written
        assert _text(s, v, "离", out + timedelta(minutes=1)) == "attendance_refused"
        assert [k for k, _ in _records(s, a)] == ["check_in", "check_out"]
        s.rollback()


def _facts(s: Session) -> list[tuple[str, dict[str, Any]]]:
    rows = s.exec(
        select(OutboxEvent)
        .where(col(OutboxEvent.type).startswith("nuanliu.attendance."))
        .order_by(col(OutboxEvent.id))
    ).all()
    return [(r.type, json.loads(r.data)) for r in rows]


def test_arriving_and_leaving_are_announced_once_each(engine: Any, demo: None) -> None:
    """The board's feed hears who arrived and left: one fact per ledger row, none for a
    second check-in or check-out."""
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        arrived, left = T0 + timedelta(minutes=10), T0 + timedelta(hours=3)
        _text(s, v, "到", arrived)
        _text(s, v, "到", arrived + timedelta(minutes=5))
        _text(s, v, "离", left)
        _text(s, v, "离", left + timedelta(minutes=1))
        facts = _facts(s)
        assert [t for t, _ in facts] == [
            "nuanliu.attendance.checked_in",
            "nuanliu.attendance.checked_out",
        ]
        first = facts[0][1]
        assert first["assignment_id"] == a.id and first["volunteer_id"] == v.id
        assert first["task_id"] == a.task_id and first["incident_id"] == a.incident_id
        assert first["source"] == "sms" and datetime.fromisoformat(first["at"]) == arrived
        s.rollback()


def test_early_check_in_counts_from_the_start(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        assert _text(s, v, "到 K4F", T0 - timedelta(minutes=40)) == "checked_in"
        kind, text = _last(s, v.phone)
        assert kind == "checked_in_early" and "07:20已签到" in text and "08:00起计" in text
        assert _text(s, v, "离", T0 + timedelta(hours=2)) == "checked_out"
        served = _served(s, a, T0 + timedelta(hours=2))
        assert served.hours() == 2.0 and "early" in served.flags
        s.rollback()


def test_too_early_and_too_late_are_refused(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        assert _text(s, v, "到", T0 - timedelta(hours=3)) == "attendance_refused"
        kind, text = _last(s, v.phone)
        assert kind == "check_in_too_early" and "08:00开始" in text and "60分钟" in text
        assert _text(s, v, "到", T0 + timedelta(hours=4, minutes=1)) == "attendance_refused"
        assert _last(s, v.phone)[0] == "no_task_to_check_in"
        assert _records(s, a) == []
        s.rollback()


def test_checking_in_twice_keeps_the_first(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        assert _text(s, v, "到", T0 + timedelta(minutes=2)) == "checked_in"
        assert _text(s, v, "到 K4F", T0 + timedelta(minutes=30)) == "attendance_refused"
        kind, text = _last(s, v.phone)
        assert kind == "already_checked_in" and "08:02" in text
        assert _records(s, a) == [("check_in", T0 + timedelta(minutes=2))]
        s.rollback()


def test_checking_out_without_checking_in(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        assert _text(s, v, "离", T0 + timedelta(hours=1)) == "attendance_refused"
        assert _last(s, v.phone)[0] == "not_checked_in"
        assert s.get(Assignment, a.id).status == "accepted"  # type: ignore[union-attr]
        # `完成` without a check-in completes as before, with no hours in the ledger
        assert _text(s, v, "完成", T0 + timedelta(hours=1)) == "completed"
        assert _records(s, a) == []
        s.rollback()


def test_done_after_checking_in_is_a_check_out(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        _text(s, v, "到", T0)
        assert _text(s, v, "完成", T0 + timedelta(hours=2)) == "checked_out"
        assert [k for k, _ in _records(s, a)] == ["check_in", "check_out"]
        assert s.get(Assignment, a.id).status == "completed"  # type: ignore[union-attr]
        assert _last(s, v.phone)[0] == "checked_out"
        s.rollback()


def test_two_tasks(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        today = _accepted(s, v, starts=T0, code="K4F")
        tomorrow = _accepted(s, v, starts=T0 + timedelta(days=1), code="M7P")
        # `到` alone: only one of them is open for check-in now
        assert _text(s, v, "到", T0) == "checked_in"
        assert [k for k, _ in _records(s, today)] == ["check_in"] and _records(s, tomorrow) == []
        # a code that names neither
        assert _text(s, v, "到 X9X", T0) == "attendance_refused"
        assert _last(s, v.phone)[0] == "no_task_to_check_in"
        # two open at once (a dispatcher's doing): `到` asks which, the code decides
        other = _accepted(s, v, starts=T0, code="C3D", slot=0)
        assert _text(s, v, "到", T0 + timedelta(minutes=1)) == "which_task"
        kind, text = _last(s, v.phone)
        assert kind == "which_task" and "C3D" in text and "K4F" in text
        assert _text(s, v, "到 C3D", T0 + timedelta(minutes=1)) == "checked_in"
        assert [k for k, _ in _records(s, other)] == ["check_in"]
        # leaving: two checked in, `离` asks which
        assert _text(s, v, "离", T0 + timedelta(hours=1)) == "which_task"
        assert _text(s, v, "离 K4F", T0 + timedelta(hours=1)) == "checked_out"
        assert _text(s, v, "离", T0 + timedelta(hours=2)) == "checked_out"  # C3D, the one left
        # two tasks at once by a dispatcher's doing: `nuanliu check` says the hours overlap
        s.flush()
        found = check(session=s, now=T0 + timedelta(hours=3))
        assert [b.rule for b in found if b.rule in LEDGER_RULES] == ["hours_overlap"]
        s.rollback()


def test_unknown_senders_and_nonsense(engine: Any, demo: None) -> None:
    stranger = "+8613900009999"
    with Session(engine) as s:
        for body in ("到", "离 K4F", "时长"):
            assert handle_text(s, stranger, body, rules=RULES) == "unknown_number"
        v = _volunteer(s)
        _accepted(s, v, starts=T0)
        for body in ("到 离", "到 K4F M7P", "到 1", "到了吗"):
            assert _text(s, v, body, T0) == "help", body
        s.rollback()


def test_forgotten_check_out_closes_at_the_window_end_on_read(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0, hours=4)
        _text(s, v, "到", T0 + timedelta(minutes=15))
        during = _served(s, a, T0 + timedelta(hours=1))
        assert during.ended_at is None and "on_shift" in during.flags
        assert during.hours(T0 + timedelta(hours=1)) == 0.75
        # within the tolerance after the end it is still open; then it closes at the end
        assert _served(s, a, T0 + timedelta(hours=4, minutes=20)).ended_at is None
        later = _served(s, a, T0 + timedelta(hours=5))
        assert later.ended_at == T0 + timedelta(hours=4) and "auto_closed" in later.flags
        assert later.hours() == 3.75
        assert [k for k, _ in _records(s, a)] == ["check_in"]  # nothing written: computed
        s.rollback()


def test_a_late_check_out_is_capped_at_the_tolerance(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0, hours=2)
        _text(s, v, "到", T0)
        assert _text(s, v, "离", T0 + timedelta(hours=2, minutes=20)) == "checked_out"
        assert _served(s, a, T0 + timedelta(hours=3)).hours() == round(140 / 60, 2)
        s.rollback()
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0, hours=2)
        _text(s, v, "到", T0)
        # the check-out text comes five hours after the end: counted to end + 30 min
        assert _text(s, v, "离", T0 + timedelta(hours=7)) == "checked_out"
        served = _served(s, a, T0 + timedelta(hours=8))
        assert served.hours() == 2.5 and "capped" in served.flags
        assert "2.5小时" in _last(s, v.phone)[1]
        s.flush()  # the ledger the flows wrote breaks none of the checker's rules
        found = check(session=s, now=T0 + timedelta(hours=8))
        assert [b for b in found if b.rule in LEDGER_RULES] == []
        s.rollback()


def test_hours_this_year_by_sms(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        _accepted(s, v, starts=T0 - timedelta(days=2), code="A2A")
        _accepted(s, v, starts=T0, code="K4F")
        _text(s, v, "到 A2A", T0 - timedelta(days=2))
        _text(s, v, "离 A2A", T0 - timedelta(days=2) + timedelta(hours=3))
        _text(s, v, "到 K4F", T0 + timedelta(minutes=30))
        assert _text(s, v, "时长", T0 + timedelta(hours=2)) == "hours"
        kind, text = _last(s, v.phone)
        # 3 h closed + 1.5 h so far on shift
        assert kind == "hours" and "2026年已服务4.5小时，共2次任务" in text
        assert _text(s, v, "时长？", T0 + timedelta(hours=2)) == "hours"
        s.rollback()


def test_english_volunteers_check_in_with_in_and_out(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s, "en")
        _accepted(s, v, starts=T0)
        assert _text(s, v, "IN", T0) == "checked_in"
        assert _last(s, v.phone)[1].startswith("Nuanliu: checked in at 08:00")
        assert _text(s, v, "out", T0 + timedelta(hours=1)) == "checked_out"
        assert _text(s, v, "hours", T0 + timedelta(hours=1)) == "hours"
        assert "served 1 h in 1 tasks" in _last(s, v.phone)[1]
        s.rollback()


def test_a_pending_sign_up_cannot_check_in(engine: Any, demo: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        _accepted(s, v, starts=T0)
        v.status, v.active = "pending", False
        s.add(v)
        assert _text(s, v, "到", T0) == "not_approved"
        s.rollback()


def test_two_check_ins_at_once_store_one(engine: Any, demo: None, on_postgres: None) -> None:
    with Session(engine) as s:
        v = _volunteer(s)
        a = _accepted(s, v, starts=T0)
        s.commit()
        phone, aid = v.phone, a.id
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def text(n: int) -> None:
        with Session(engine) as s:
            barrier.wait()
            outcomes.append(
                str(handle_text(s, phone, "到", now=T0 + timedelta(seconds=n), rules=RULES))
            )
            s.commit()

    threads = [threading.Thread(target=text, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["attendance_refused", "attendance_refused", "checked_in"]
    with Session(engine) as s:
        rows = s.exec(select(ServiceRecord).where(ServiceRecord.assignment_id == aid)).all()
        assert [r.kind for r in rows] == ["check_in"]
