"""The texts Nuanliu sends, in Chinese (default) and English.

Chinese texts travel as UCS-2, 70 characters per SMS, so each is kept under 70 characters
with typical values (tests check this); English ones under 160 GSM-7 characters. Every text
that asks for an answer says how to answer. Chinese providers send only pre-approved templates,
so a template's name and its parameters go to the gateway along with the rendered text.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Formatter
from typing import Any

LANGUAGES = ("zh", "en")

TEMPLATES: dict[str, dict[str, str]] = {
    "offer": {
        "zh": "【暖流】{task}：{place}，{window}。"
        "回复1接受 2拒绝，{minutes}分钟内有效（编号{code}），TD退订",
        "en": "Nuanliu: {task} at {place}, {window}. Reply 1 to accept, 2 to decline within "
        "{minutes} min (ref {code}). STOP to opt out",
    },
    "accepted": {
        "zh": "【暖流】已确认：{task}，{place}，{window}（编号{code}）。完成后回复“完成”，谢谢！",
        "en": "Nuanliu: confirmed, {task} at {place}, {window} (ref {code}). "
        "Reply DONE when finished. Thank you!",
    },
    "declined": {
        "zh": "【暖流】已收到，您这次不参加。谢谢，下次再联系您。",
        "en": "Nuanliu: noted, you are not taking this one. Thank you, we will ask again.",
    },
    "expired": {
        "zh": "【暖流】“{task}”的邀请已过期，已转给其他志愿者。谢谢！",
        "en": "Nuanliu: the offer for {task} has expired and went to another volunteer. Thanks!",
    },
    "cancelled": {
        "zh": "【暖流】取消通知：{task}（{window}）已取消，您无需前往。谢谢！",
        "en": "Nuanliu: {task} ({window}) is cancelled; please do not go. Thank you!",
    },
    "assigned": {
        "zh": "【暖流】调度员为您安排：{task}，{place}，{window}（编号{code}）。不能去请回复2",
        "en": "Nuanliu: a dispatcher assigned you {task} at {place}, {window} (ref {code}). "
        "Reply 2 if you cannot go.",
    },
    "reminder": {
        "zh": "【暖流】提醒：{task}，{place}，{window}即将开始。注意防滑保暖！",
        "en": "Nuanliu reminder: {task} at {place}, {window} starts soon. Stay safe and warm!",
    },
    "completed": {
        "zh": "【暖流】“{task}”已记录完成，辛苦了，谢谢您！",
        "en": "Nuanliu: {task} recorded as done. Thank you for your work!",
    },
    "opted_out": {
        "zh": "【暖流】您已退订，不会再收到任务短信。如需恢复请联系工会。",
        "en": "Nuanliu: you are unsubscribed and will get no more task messages. "
        "Contact the union to rejoin.",
    },
    "help": {
        "zh": "【暖流】未能识别。回复1接受 2拒绝，完成后回复“完成”，TD退订。",
        "en": "Nuanliu: not understood. Reply 1 to accept, 2 to decline, DONE when finished, "
        "STOP to opt out.",
    },
    "unknown_number": {
        "zh": "【暖流】本号码未登记为志愿者。报名请回复：报名 姓名 区县，如“报名 张三 云岩区”",
        "en": "Nuanliu: this number is not registered as a volunteer. To join, text: "
        'JOIN name district, e.g. "JOIN Zhang Yunyan"',
    },
    "offer_closed": {
        "zh": "【暖流】“{task}”的邀请已结束（已过期或已满员），本次无需前往，谢谢！",
        "en": "Nuanliu: the offer for {task} is closed (expired or full); "
        "no need to go. Thank you!",
    },
    "which_offer": {
        "zh": "【暖流】您有多个待回复的邀请：{codes}。请回复编号加1或2，如“{example} 1”",
        "en": "Nuanliu: you have several open offers: {codes}. "
        'Reply with the ref and 1 or 2, e.g. "{example} 1"',
    },
    # -- joining by SMS (issue 15): `报名 姓名 区 [技能…]` and the approval's outcome
    "signup_received": {
        "zh": "【暖流】{person}，报名已收到，审核后短信通知您。谢谢！",
        "en": "Nuanliu: {person}, we got your sign-up and will text you once it is reviewed. "
        "Thank you!",
    },
    "signup_format": {
        "zh": "【暖流】报名请回复：报名 姓名 区县 技能（可选），如“报名 张三 云岩区 急救”",
        "en": "Nuanliu: to join, text: JOIN name district [skills], "
        'e.g. "JOIN Zhang Yunyan first_aid"',
    },
    "signup_bad_district": {
        "zh": "【暖流】未找到区县“{district}”，请用贵阳的区县名，如云岩区、南明区。",
        "en": "Nuanliu: no district called {district}. Use a Guiyang district name, "
        "e.g. Yunyan or Nanming.",
    },
    "signup_duplicate": {
        "zh": "【暖流】本号码已是暖流志愿者，无需重复报名。谢谢！",
        "en": "Nuanliu: this number is already a Nuanliu volunteer; no need to sign up again.",
    },
    "signup_pending": {
        "zh": "【暖流】您的报名正在审核中，结果会短信通知您，无需重复报名。",
        "en": "Nuanliu: your sign-up is being reviewed; we will text you the outcome. "
        "No need to sign up again.",
    },
    "signup_refused_before": {
        "zh": "【暖流】您此前的报名未通过审核，如有疑问请联系工会。",
        "en": "Nuanliu: your earlier sign-up was not approved. Please contact the union "
        "with any questions.",
    },
    "signup_approved": {
        "zh": "【暖流】{person}，报名已通过，欢迎加入暖流志愿者！有任务会短信邀请您，TD退订",
        "en": "Nuanliu: {person}, you are approved, welcome! We will text you when there is "
        "work. STOP to opt out",
    },
    "signup_declined": {
        "zh": "【暖流】很抱歉，您的报名未通过审核。如有疑问请联系工会。",
        "en": "Nuanliu: sorry, your sign-up was not approved. Please contact the union "
        "with any questions.",
    },
    # -- on shift: `到`, `离`, `时长` (times are local, Asia/Shanghai)
    "checked_in": {
        "zh": "【暖流】{time}已签到：{task}（编号{code}）。离开时回复“离”，注意安全！",
        "en": "Nuanliu: checked in at {time}, {task} (ref {code}). Text OUT when you leave. "
        "Stay safe!",
    },
    "checked_in_early": {
        "zh": "【暖流】{time}已签到：{task}（编号{code}），时长从{start}开始计。离开时回复“离”",
        "en": "Nuanliu: checked in at {time}, {task} (ref {code}); hours count from {start}. "
        "Text OUT when you leave.",
    },
    "already_checked_in": {
        "zh": "【暖流】您已于{time}签到：{task}（编号{code}）。离开时回复“离”",
        "en": "Nuanliu: you checked in at {time} already, {task} (ref {code}). "
        "Text OUT when you leave.",
    },
    "checked_out": {
        "zh": "【暖流】{time}已签退：{task}，本次服务{hours}小时。辛苦了，谢谢您！",
        "en": "Nuanliu: checked out at {time}, {task}: {hours} h served. Thank you!",
    },
    "not_checked_in": {
        "zh": "【暖流】您还没有签到，无法签退。到达后请回复“到 编号”签到。",
        "en": "Nuanliu: you have not checked in, so there is nothing to check out of. "
        'Text "IN ref" when you arrive.',
    },
    "no_task_to_check_in": {
        "zh": "【暖流】没有找到您可签到的任务。请回复“到 编号”，编号见确认短信。",
        "en": 'Nuanliu: no task of yours to check in to. Text "IN ref" with the ref '
        "from your confirmation.",
    },
    "check_in_too_early": {
        "zh": "【暖流】{task}{start}开始，请在开始前{minutes}分钟内再签到（编号{code}）。",
        "en": "Nuanliu: {task} starts at {start}; check in at most {minutes} min before "
        "(ref {code}).",
    },
    "which_task": {
        "zh": "【暖流】您有多个任务：{codes}。请回复“{word} 编号”，如“{word} {example}”",
        "en": 'Nuanliu: you have several tasks: {codes}. Reply "{word} ref", '
        'e.g. "{word} {example}"',
    },
    "hours": {
        "zh": "【暖流】您{year}年已服务{hours}小时，共{count}次任务。谢谢您！",
        "en": "Nuanliu: in {year} you served {hours} h in {count} tasks. Thank you!",
    },
    # -- no-shows (NUANLIU_NO_SHOW_REMIND_AFTER, NUANLIU_NO_SHOW_AFTER)
    "no_show_warning": {
        "zh": "【暖流】{task}已于{start}开始，您还未签到。到了请回复“到 {code}”，来不了回复2",
        "en": 'Nuanliu: {task} started at {start} and you have not checked in. Text "IN {code}" '
        "when there, 2 if you cannot come.",
    },
    "no_show_released": {
        "zh": "【暖流】您未签到，“{task}”的岗位已转给其他志愿者。如有误请联系调度员。",
        "en": "Nuanliu: you did not check in, so your place in {task} went to another "
        "volunteer. Contact the dispatcher if this is wrong.",
    },
}


class UnknownTemplate(KeyError):
    """No template by that name."""


def parameters(name: str) -> set[str]:
    """The parameters template `name` needs (the same in every language)."""
    if name not in TEMPLATES:
        raise UnknownTemplate(name)
    text = TEMPLATES[name]["zh"]
    return {field for _, field, _, _ in Formatter().parse(text) if field}


def render(name: str, lang: str = "zh", **params: Any) -> str:
    """The text of template `name` in `lang` ("zh" default; anything but "en" gets Chinese).

    A sequence parameter (e.g. `codes`) is joined with the language's list separator; a
    missing parameter raises KeyError, so a bug shows in tests rather than in an SMS."""
    if name not in TEMPLATES:
        raise UnknownTemplate(name)
    language = "en" if (lang or "").lower().startswith("en") else "zh"
    separator = "、" if language == "zh" else ", "
    values: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Sequence) and not isinstance(value, str):
            values[key] = separator.join(str(v) for v in value)
        else:
            values[key] = value
    if name == "which_offer" and "example" not in values:
        codes = params.get("codes") or []
        first = codes[0] if isinstance(codes, Sequence) and not isinstance(codes, str) else codes
        values["example"] = str(first or "").split("、")[0].split(",")[0].strip()
    return TEMPLATES[name][language].format(**values)
