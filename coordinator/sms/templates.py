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
        "zh": "【暖流】本号码未登记为志愿者，如需报名请联系工会。",
        "en": "Nuanliu: this number is not registered as a volunteer. "
        "Please contact the union to join.",
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
