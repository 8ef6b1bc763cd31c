"""After an ice storm, the report suggests playbook changes from what happened, and a
dispatcher accepts the ones they agree with into the playbook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.dispatch.models import Playbook
from coordinator.dispatch.playbooks import DEFAULT_PLAYBOOKS, PlaybookData
from coordinator.reports.incidents import IncidentReport, TaskLine
from coordinator.reports.suggestions import apply, suggest
from coordinator.volunteers.models import Volunteer
from tests.conftest import bearer
from tests.dispatch.helpers import add_assignment, add_task
from tests.reports.readers import pdf_text

PAST = {"starts_in": timedelta(hours=-8), "lasts": timedelta(hours=4)}


def _storm(engine) -> int:
    """An orange ice storm planned from the default playbook (de-icing 10 a hotspot for 4 h,
    elderly visits 25 a district for 3 h, reserve 15 for 6 h) that went like this: the
    de-icing filled 6 of 20 slots; 2 of the 5 who took the visits never came; the reserve,
    planned for 6 hours, reported done after 2."""
    with Session(engine) as s:
        people = iter(v.id for v in s.exec(select(Volunteer).order_by(col(Volunteer.id)).limit(40)))
        deice = add_task(s, slots=10, plan_key="deice:520103:0", **PAST)
        incident = deice.incident_id
        more = [
            ("deice:520103:1", 10, 4),
            ("elderly:520103", 5, 3),
            ("reserve:520103", 3, 6),
        ]
        tasks = {"deice:520103:0": deice}
        for key, slots, hours in more:
            task = add_task(s, slots=slots, plan_key=key, **PAST)
            task.incident_id = incident
            task.ends_at = task.starts_at + timedelta(hours=hours)
            tasks[key] = task
        s.flush()
        for slot in range(3):
            for key in ("deice:520103:0", "deice:520103:1"):
                add_assignment(
                    s, tasks[key], next(people), slot=slot, code=f"D{slot}", status="completed"
                )
        for slot in range(5):
            status = "accepted" if slot < 2 else "completed"
            add_assignment(
                s, tasks["elderly:520103"], next(people), slot=slot, code=f"E{slot}", status=status
            )
        for slot in range(3):
            a = add_assignment(
                s,
                tasks["reserve:520103"],
                next(people),
                slot=slot,
                code=f"R{slot}",
                status="completed",
            )
            a.responded_at = tasks["reserve:520103"].starts_at + timedelta(hours=2)
            s.add(a)
        s.commit()
        return incident


def test_suggestions_from_what_happened(api, tokens, engine):
    incident = _storm(engine)
    api.headers.update(bearer(tokens["dispatcher"]))
    found = api.get(f"/api/incidents/{incident}/playbook-suggestions")
    assert found.status_code == 200, found.text
    by_key = {s["key"]: s for s in found.json()}
    assert by_key["deice:slots"]["current"] == 10 and by_key["deice:slots"]["proposed"] == 3
    # 2 of 5 did not come: ask 40 % more than the 5 a task needed
    assert by_key["elderly:slots"]["proposed"] == 7
    assert by_key["reserve:hours"]["current"] == 6 and by_key["reserve:hours"]["proposed"] == 2.0
    assert "只到位6人次" in by_key["deice:slots"]["reason_zh"]
    text = pdf_text(api.get(f"/api/incidents/{incident}/report.pdf").content).replace("\n", "")
    assert "预案调整建议" in text and "提前完成" in text

    accepted = api.post(
        f"/api/incidents/{incident}/playbook-suggestions",
        json={"keys": ["deice:slots", "reserve:hours"]},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["level"] is None  # the rule for every level, as it was read
    with Session(engine) as s:
        row = s.exec(select(Playbook).where(Playbook.kind == "ice_storm")).one()
        audit = s.exec(select(AuditLog).where(AuditLog.action == "playbook.saved")).one()
    rules = {r["key"]: r for r in row.data["tasks"]}
    assert rules["deice"]["slots"] == 3 and rules["reserve"]["hours"] == 2.0
    assert rules["elderly"]["slots"] == 25  # not accepted, not changed
    assert audit.detail["changes"] == {"deice:slots": [10, 3], "reserve:hours": [6, 2.0]}
    listed = {p["kind"]: p for p in api.get("/api/playbooks").json() if p["source"] == "stored"}
    assert listed["ice_storm"]["data"]["tasks"][0]["slots"] == 3


def test_bad_acceptances_change_nothing(api, tokens, engine):
    incident = _storm(engine)
    api.headers.update(bearer(tokens["dispatcher"]))
    url = f"/api/incidents/{incident}/playbook-suggestions"
    for body in ({"keys": ["deice:colour"]}, {"keys": ["deice:slots", "nope:slots"]}):
        r = api.post(url, json=body)
        assert r.status_code == 422 and r.json()["code"] == "suggestion_refused", r.text
    assert api.post(url, json={"keys": []}).status_code == 422
    assert api.post(url, json={}).status_code == 422
    assert api.post(url, content=b"{").status_code == 422
    assert (
        api.post("/api/incidents/999999/playbook-suggestions", json={"keys": ["a"]}).status_code
        == 404
    )
    with Session(engine) as s:
        assert s.exec(select(Playbook)).all() == []
    api.headers.update(bearer(tokens["manager_a"]))
    assert api.get(url).status_code == 403


def _line(key: str, **figures) -> TaskLine:
    return TaskLine(task_id=1, title="t", title_en="t", district_code="", rule_key=key, **figures)


def _report(tasks: list[TaskLine], teams: dict[str, tuple[int, int]]) -> IncidentReport:
    moment = datetime(2026, 1, 5, tzinfo=UTC)
    counts = (
        "needed",
        "filled",
        "offers",
        "assigned_by_hand",
        "declines",
        "silences",
        "cancelled",
        "completed",
        "no_shows",
        "volunteers",
        "sms_sent",
        "sms_segments",
        "sms_failed",
    )
    zero = dict.fromkeys(counts, 0)
    return IncidentReport(
        incident_id=1,
        title="t",
        kind="ice_storm",
        level="red",
        status="closed",
        generated_at=moment,
        timeline=[],
        tasks=tasks,
        districts=[],
        hours_served=0.0,
        sms_by_kind={},
        teams=teams,
        **zero,
    )


def test_late_work_slow_filling_and_a_team_that_did_not_come():
    playbook = PlaybookData.model_validate(DEFAULT_PLAYBOOKS["ice_storm"])
    slow = [
        _line(
            "deice",
            slots=15,
            filled=15,
            shift_hours=4.0,
            done_after_hours=[5.2, 5.0, 4.9],
            minutes_to_fill=95.0,
        ),
        _line("deice", slots=15, filled=15, shift_hours=4.0, minutes_to_fill=20.0),
    ]
    found = {
        s.key: s
        for s in suggest(
            _report(slow, {"花溪青年队": (4, 2), "云岩队": (6, 1)}), playbook=playbook, factor=1.5
        )
    }
    assert found["deice:hours"].proposed == 5.0  # the median, 5.0 h (to the half hour above)
    assert "延后" in found["deice:hours"].reason_zh
    # half the tasks took longer than an hour; the median of the two is 57.5 min: no change
    assert "deice:start_offset_min" not in found
    assert "deice:slots" not in found  # every slot filled, nobody missing
    assert set(k for k in found if k.startswith("team:")) == {"team:花溪青年队"}
    assert not found["team:花溪青年队"].applicable
    slower = [slow[0], _line("deice", slots=15, filled=15, shift_hours=4.0, minutes_to_fill=70.0)]
    found = {s.key: s for s in suggest(_report(slower, {}), playbook=playbook, factor=1.5)}
    assert found["deice:start_offset_min"].proposed == 90  # 82.5 min, to the quarter above
    # at red (× 1.5) 15 people a task; a rule that filled 6 of 30 asks for 3 a task: 2 orange
    poor = [_line("deice", slots=15, filled=3), _line("deice", slots=15, filled=3)]
    (change,) = suggest(_report(poor, {}), playbook=playbook, factor=1.5)
    assert (change.key, change.current, change.proposed) == ("deice:slots", 10, 2)
    saved = apply(playbook, [change, found["deice:start_offset_min"]])
    assert saved.tasks[0].slots == 2 and saved.tasks[0].start_offset_min == 90
    assert playbook.tasks[0].slots == 10  # the playbook read is left as it was
