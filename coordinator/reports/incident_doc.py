"""The after-action report of an incident as a `Document`, in Chinese (the union's language,
the default) or English."""

from __future__ import annotations

from pathlib import Path

from coordinator.reports import charts
from coordinator.reports.document import (
    Chart,
    Document,
    Kind,
    Table,
    count,
    local_time,
    number,
    share,
)
from coordinator.reports.incidents import IncidentReport
from coordinator.reports.suggestions import Suggestion

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "事件总结报告",
        "generated": "生成时间",
        "status_open": "进行中",
        "status_closed": "已结束",
        "timeline": "时间线",
        "when": "时间",
        "step": "节点",
        "alert_received": "收到预警",
        "tasks_planned": "任务生成",
        "first_offer": "首条邀请",
        "half_filled": "半数到位",
        "all_filled": "全部到位",
        "closed": "事件结束",
        "close_reason": "结束原因：{reason}",
        "not_yet": "尚未",
        "measure": "指标",
        "value": "数值",
        "figures": "总体数据",
        "needed": "所需人次",
        "filled": "已到位",
        "fill_rate": "到位率",
        "offers": "发出邀请",
        "by_hand": "调度员指派",
        "declines": "婉拒",
        "silences": "未回复（超时）",
        "cancelled": "已取消",
        "completed": "已完成",
        "no_shows": "未到岗",
        "volunteers": "参与志愿者",
        "hours": "服务时长（小时）",
        "sms_sent": "发送短信",
        "sms_segments": "计费条数",
        "sms_failed": "发送失败",
        "tasks": "各任务",
        "task": "任务",
        "district": "区县",
        "slots": "人次",
        "minutes": "到位用时（分钟）",
        "districts": "各区县",
        "n_tasks": "任务数",
        "sms": "短信",
        "sms_kind": "类别",
        "sms_count": "条数",
        "curve": "到位曲线",
        "minutes_since": "任务生成后分钟数",
        "slots_filled": "已到位人次",
        "needed_line": "所需人次",
        "total": "合计",
        "advice": "预案调整建议",
        "advice_why": "依据",
        "advice_field": "调整项",
        "advice_now": "现行",
        "advice_new": "建议",
        "field_slots": "人数",
        "field_hours": "时长（小时）",
        "field_start_offset_min": "推后开工（分钟）",
        "field_team": "队伍（仅提醒）",
        "district_chart": "各区县到位率",
        "share_axis": "到位率（%）",
        "summary": (
            "本次{title}共需志愿者{needed}人次，已到位{filled}人次（到位率{rate}），"
            "{volunteers}名志愿者参与，完成服务{hours}小时；发出邀请{offers}条，"
            "婉拒{declines}次，未回复{silences}次，发送短信{sms}条（计费{segments}条）。"
        ),
    },
    "en": {
        "title": "After-action report",
        "generated": "generated",
        "status_open": "open",
        "status_closed": "closed",
        "timeline": "Timeline",
        "when": "when",
        "step": "step",
        "alert_received": "alert received",
        "tasks_planned": "tasks planned",
        "first_offer": "first offer",
        "half_filled": "half filled",
        "all_filled": "all filled",
        "closed": "closed",
        "close_reason": "Closed because: {reason}",
        "not_yet": "not yet",
        "measure": "measure",
        "value": "value",
        "figures": "Figures",
        "needed": "slots needed",
        "filled": "slots filled",
        "fill_rate": "fill rate",
        "offers": "offers sent",
        "by_hand": "assigned by a dispatcher",
        "declines": "declines",
        "silences": "silences (expired)",
        "cancelled": "cancelled",
        "completed": "completed",
        "no_shows": "no-shows",
        "volunteers": "volunteers",
        "hours": "hours served",
        "sms_sent": "SMS sent",
        "sms_segments": "segments billed",
        "sms_failed": "SMS failed",
        "tasks": "Tasks",
        "task": "task",
        "district": "district",
        "slots": "slots",
        "minutes": "minutes to fill",
        "districts": "Districts",
        "n_tasks": "tasks",
        "sms": "SMS",
        "sms_kind": "kind",
        "sms_count": "messages",
        "curve": "Fill curve",
        "minutes_since": "minutes since the tasks were planned",
        "slots_filled": "slots filled",
        "needed_line": "slots needed",
        "total": "total",
        "advice": "Playbook suggestions",
        "advice_why": "why",
        "advice_field": "change",
        "advice_now": "now",
        "advice_new": "suggested",
        "field_slots": "slots",
        "field_hours": "hours",
        "field_start_offset_min": "start later by (min)",
        "field_team": "team (advice only)",
        "district_chart": "Fill rate per district",
        "share_axis": "fill rate (%)",
        "summary": (
            "{title}: {filled} of {needed} slots filled ({rate}) by {volunteers} volunteers, "
            "{hours} hours served; {offers} offers sent, {declines} declined, {silences} never "
            "answered; {sms} texts sent ({segments} segments billed)."
        ),
    },
}


#: what each kind of text was, for the Chinese report (other kinds are shown by their code)
SMS_KINDS_ZH = {
    "offer": "服务邀请",
    "accepted": "确认接受",
    "declined": "婉拒回执",
    "expired": "超时通知",
    "cancelled": "取消通知",
    "assigned": "指派通知",
    "reminder": "出发提醒",
    "completed": "完成致谢",
    "offer_closed": "名额已满",
    "which_offer": "询问编号",
    "reply": "自动回复",
}


def document(
    report: IncidentReport,
    advice: list[Suggestion],
    *,
    lang: str,
    tz: str,
    font_path: Path,
) -> Document:
    t = TEXT[lang]
    zh = lang == "zh"
    status = t["status_closed"] if report.status == "closed" else t["status_open"]
    doc = Document(
        title=f"{t['title']} · {report.title}",
        subtitle=(
            f"#{report.incident_id} · {report.kind} · {report.level} · {status} · "
            f"{t['generated']} {local_time(report.generated_at, tz)}"
        ),
    )
    doc.paragraphs.append(
        t["summary"].format(
            title=report.title,
            needed=count(report.needed),
            filled=count(report.filled),
            rate=share(report.fill_rate),
            volunteers=count(report.volunteers),
            hours=number(report.hours_served),
            offers=count(report.offers),
            declines=count(report.declines),
            silences=count(report.silences),
            sms=count(report.sms_sent),
            segments=count(report.sms_segments),
        )
    )
    if report.close_reason:
        doc.paragraphs.append(t["close_reason"].format(reason=report.close_reason))
    doc.tables.append(
        Table(
            name="timeline",
            title=t["timeline"],
            columns=[(t["step"], "text"), (t["when"], "text")],
            rows=[[t[key], local_time(at, tz) or t["not_yet"]] for key, at in report.timeline],
        )
    )
    figures: list[tuple[str, int | float, Kind]] = [
        ("needed", report.needed, "int"),
        ("filled", report.filled, "int"),
        ("fill_rate", report.fill_rate, "share"),
        ("offers", report.offers, "int"),
        ("by_hand", report.assigned_by_hand, "int"),
        ("declines", report.declines, "int"),
        ("silences", report.silences, "int"),
        ("cancelled", report.cancelled, "int"),
        ("completed", report.completed, "int"),
        ("no_shows", report.no_shows, "int"),
        ("volunteers", report.volunteers, "int"),
        ("hours", report.hours_served, "number"),
        ("sms_sent", report.sms_sent, "int"),
        ("sms_segments", report.sms_segments, "int"),
        ("sms_failed", report.sms_failed, "int"),
    ]
    doc.tables.append(
        Table(
            name="figures",
            title=t["figures"],
            columns=[(t["measure"], "text"), (t["value"], "int")],
            rows=[[t[key], value] for key, value, _ in figures],
            row_kinds=[kind for _, _, kind in figures],
        )
    )
    doc.tables.append(
        Table(
            name="tasks",
            title=t["tasks"],
            columns=[
                ("#", "int"),
                (t["task"], "text"),
                (t["district"], "text"),
                (t["slots"], "int"),
                (t["filled"], "int"),
                (t["fill_rate"], "share"),
                (t["offers"], "int"),
                (t["declines"], "int"),
                (t["silences"], "int"),
                (t["no_shows"], "int"),
                (t["hours"], "number"),
                (t["minutes"], "number"),
            ],
            rows=[
                [
                    task.task_id,
                    task.title if zh else task.title_en,
                    _district_name(report, task.district_code, zh),
                    task.slots,
                    task.filled,
                    task.fill_rate,
                    task.offers,
                    task.declines,
                    task.silences,
                    task.no_shows,
                    task.hours_served,
                    task.minutes_to_fill,
                ]
                for task in report.tasks
            ],
            total=[
                None,
                t["total"],
                "",
                report.needed,
                report.filled,
                report.fill_rate,
                report.offers,
                report.declines,
                report.silences,
                report.no_shows,
                report.hours_served,
                None,
            ],
        )
    )
    doc.tables.append(
        Table(
            name="districts",
            title=t["districts"],
            columns=[
                (t["district"], "text"),
                (t["n_tasks"], "int"),
                (t["slots"], "int"),
                (t["filled"], "int"),
                (t["fill_rate"], "share"),
                (t["offers"], "int"),
                (t["declines"], "int"),
                (t["silences"], "int"),
                (t["no_shows"], "int"),
                (t["hours"], "number"),
                (t["minutes"], "number"),
            ],
            rows=[
                [
                    d.name_zh if zh else d.name_en,
                    d.tasks,
                    d.slots,
                    d.filled,
                    d.fill_rate,
                    d.offers,
                    d.declines,
                    d.silences,
                    d.no_shows,
                    d.hours_served,
                    d.minutes_to_fill,
                ]
                for d in report.districts
            ],
        )
    )
    doc.tables.append(
        Table(
            name="sms",
            title=t["sms"],
            columns=[(t["sms_kind"], "text"), (t["sms_count"], "int")],
            rows=[
                [SMS_KINDS_ZH.get(kind, kind) if zh else kind, n]
                for kind, n in report.sms_by_kind.items()
            ],
            total=[t["sms_sent"], report.sms_sent],
        )
    )
    if advice:
        doc.tables.append(
            Table(
                name="suggestions",
                title=t["advice"],
                columns=[
                    (t["advice_why"], "text"),
                    (t["advice_field"], "text"),
                    (t["advice_now"], "number"),
                    (t["advice_new"], "number"),
                ],
                rows=[
                    [
                        s.reason_zh if zh else s.reason_en,
                        t.get(f"field_{s.field}", s.field),
                        s.current,
                        s.proposed,
                    ]
                    for s in advice
                ],
            )
        )
    planned = dict(report.timeline).get("tasks_planned")
    if report.fill_curve and planned is not None:
        x = [max((at - planned).total_seconds(), 0.0) / 60.0 for at, _ in report.fill_curve]
        y = [float(n) for _, n in report.fill_curve]
        doc.charts.append(
            Chart(
                t["curve"],
                lambda: charts.steps(
                    font_path=font_path,
                    series={t["slots_filled"]: (x, y)},
                    xlabel=t["minutes_since"],
                    ylabel=t["slots_filled"],
                    ceiling=report.needed,
                    ceiling_label=t["needed_line"],
                ),
            )
        )
    if report.districts:
        doc.charts.append(
            Chart(
                t["district_chart"],
                lambda: charts.bars(
                    font_path=font_path,
                    categories=[d.name_zh if zh else d.name_en for d in report.districts],
                    series={t["fill_rate"]: [d.fill_rate * 100 for d in report.districts]},
                    xlabel=t["district"],
                    ylabel=t["share_axis"],
                ),
            )
        )
    return doc


def _district_name(report: IncidentReport, code: str, zh: bool) -> str:
    for d in report.districts:
        if d.code == code:
            return d.name_zh if zh else d.name_en
    return code
