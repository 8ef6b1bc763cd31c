"""After an incident, what its playbook could learn from it: changes to a rule's slots, hours or
start, each with the figures behind it, for a dispatcher to accept into the playbook (or not).

Per playbook rule (a task's plan key up to its first colon), over the tasks it made:
- filled poorly (under `FILL_FLOOR` of its slots): ask for what the roster gave, so the next
  plan does not promise what nobody came for;
- many no-shows (at least `NO_SHOW_SHARE` of those who accepted): ask for as many more, so the
  ones who come fill the slots;
- finished early or late (the volunteers' 完成, median, against the shift as planned): the
  shift's length becomes what the work took, to the half hour;
- filled slowly (half its tasks took longer than `SLOW_FILL_MIN` minutes to fill): start that
  much later, so the volunteers are asked before the work begins, not after.
Teams with many no-shows are listed too, for the dispatcher to speak to: a playbook has no
field for a team, so they are advice, not a change.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from coordinator.dispatch.service import PlaybookData
from coordinator.reports.incidents import IncidentReport, TaskLine

FILL_FLOOR = 0.8
NO_SHOW_SHARE = 0.2
#: below this many people accepted, a share of no-shows says little
MIN_PEOPLE = 5
#: a team is named when at least this many of it accepted and this share of them did not come
TEAM_MIN_PEOPLE, TEAM_NO_SHOW_SHARE = 3, 0.3
EARLY, LATE = 0.75, 1.1
MIN_DONE = 3
SLOW_FILL_MIN = 60.0


@dataclass(frozen=True)
class Suggestion:
    #: "<rule>:<field>", what a dispatcher accepts; "team:<name>" for advice
    key: str
    rule_key: str
    field: str
    current: float | None
    proposed: float | None
    reason_zh: str
    reason_en: str

    @property
    def applicable(self) -> bool:
        return self.proposed is not None


def suggest(report: IncidentReport, *, playbook: PlaybookData, factor: float) -> list[Suggestion]:
    """The changes `report` argues for in `playbook`; `factor` is how the incident's level
    scaled the rules' slots."""
    rules = {rule.key: rule for rule in playbook.tasks}
    by_rule: dict[str, list[TaskLine]] = {}
    for task in report.tasks:
        by_rule.setdefault(task.rule_key, []).append(task)
    out: list[Suggestion] = []
    for key, tasks in sorted(by_rule.items()):
        rule = rules.get(key)
        if rule is None:  # the playbook changed since, or a task made by hand
            continue
        slots = sum(t.slots for t in tasks)
        filled = sum(t.filled for t in tasks)
        no_shows = sum(t.no_shows for t in tasks)
        title = rule.title_zh
        if slots and filled / slots < FILL_FLOOR:
            per_task = max(1, math.ceil(filled / len(tasks)))
            out.append(
                Suggestion(
                    key=f"{key}:slots",
                    rule_key=key,
                    field="slots",
                    current=rule.slots,
                    proposed=_rule_slots(per_task, factor),
                    reason_zh=f"{title}：{len(tasks)}项任务共需{slots}人次，只到位{filled}人次",
                    reason_en=(
                        f"{rule.title_en or key}: {filled} of {slots} slots filled "
                        f"over {len(tasks)} tasks"
                    ),
                )
            )
        elif filled >= MIN_PEOPLE and no_shows / filled >= NO_SHOW_SHARE:
            share = no_shows / filled
            per_task = math.ceil(slots / len(tasks) * (1 + share))
            out.append(
                Suggestion(
                    key=f"{key}:slots",
                    rule_key=key,
                    field="slots",
                    current=rule.slots,
                    proposed=_rule_slots(per_task, factor),
                    reason_zh=f"{title}：{filled}名到位志愿者中{no_shows}人未到岗，多邀请相应人数",
                    reason_en=(
                        f"{rule.title_en or key}: {no_shows} of {filled} who accepted did not "
                        "come; ask that many more"
                    ),
                )
            )
        done = [h for t in tasks for h in t.done_after_hours]
        planned = statistics.median(t.shift_hours for t in tasks)
        if len(done) >= MIN_DONE and planned > 0:
            took = statistics.median(done)
            if took < planned * EARLY or took > planned * LATE:
                hours = min(24.0, max(0.5, math.ceil(took * 2) / 2))
                if hours != rule.hours:
                    early = took < planned
                    out.append(
                        Suggestion(
                            key=f"{key}:hours",
                            rule_key=key,
                            field="hours",
                            current=rule.hours,
                            proposed=hours,
                            reason_zh=(
                                f"{title}：计划{planned:.1f}小时，完成用时中位数{took:.1f}小时"
                                f"（{'提前' if early else '延后'}完成）"
                            ),
                            reason_en=(
                                f"{rule.title_en or key}: planned {planned:.1f} h, done after "
                                f"{took:.1f} h (median, {'early' if early else 'late'})"
                            ),
                        )
                    )
        waits = [t.minutes_to_fill for t in tasks if t.minutes_to_fill is not None]
        if waits and len(waits) * 2 >= len(tasks):
            wait = statistics.median(waits)
            if wait > SLOW_FILL_MIN:
                later = rule.start_offset_min + 15 * math.ceil(wait / 15)
                out.append(
                    Suggestion(
                        key=f"{key}:start_offset_min",
                        rule_key=key,
                        field="start_offset_min",
                        current=rule.start_offset_min,
                        proposed=min(later, 7 * 24 * 60),
                        reason_zh=f"{title}：到位用时中位数{wait:.0f}分钟，开工时间相应推后",
                        reason_en=(
                            f"{rule.title_en or key}: slots took {wait:.0f} min to fill "
                            "(median); start that much later"
                        ),
                    )
                )
    for name, (accepted, missed) in report.teams.items():
        if accepted >= TEAM_MIN_PEOPLE and missed / accepted >= TEAM_NO_SHOW_SHARE:
            out.append(
                Suggestion(
                    key=f"team:{name}",
                    rule_key="",
                    field="team",
                    current=None,
                    proposed=None,
                    reason_zh=f"{name}：{accepted}人接受，{missed}人未到岗，请与队长沟通",
                    reason_en=f"team {name}: {missed} of {accepted} who accepted did not come",
                )
            )
    return out


def _rule_slots(per_task: int, factor: float) -> int:
    """A rule's (orange) slots that give `per_task` at the incident's level."""
    return max(1, min(1000, round(per_task / factor))) if factor > 0 else per_task


def apply(playbook: PlaybookData, chosen: list[Suggestion]) -> PlaybookData:
    """`playbook` with the `chosen` changes made (validated again, as a PUT would be)."""
    data = playbook.model_dump(mode="json")
    for s in chosen:
        for rule in data["tasks"]:
            if rule["key"] == s.rule_key:
                value = s.proposed
                rule[s.field] = int(value) if s.field != "hours" and value is not None else value
    return PlaybookData.model_validate(data)
