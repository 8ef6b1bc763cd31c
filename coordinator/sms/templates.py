"""The template registry: every text Nuanliu sends is one of these kinds, with its named
variables, a Chinese and an English text, and per provider the code of the approved template.

Chinese providers (Aliyun, Tencent Cloud) send only pre-approved templates (模板) under a
registered signature (签名), so nothing here is free text: a kind's text is fixed, its
variables are filled in. The signature is not part of a template's text: the provider puts it
in front (`【暖流】`); the console and Twilio get it prepended by `render`. Lengths count it.

Chinese texts travel as UCS-2, 70 characters in one SMS, 67 per part when split; each kind says
how many parts it may take with real data (`max_segments`, checked by the tests with the demo's
longest names). Every text that asks for an answer says how to answer.

Some 600 lines, nearly all of them the kinds' texts in two languages: kept in one module so
that a translator, or whoever submits the templates for approval, reads every text together.

Providers write variables differently: Aliyun by name (`${task}`), Tencent by position
(`{1}`, `{2}`, … in the order of `variables`); `provider_text` gives the text to submit for
approval. The approved codes come from the TOML file `NUANLIU_SMS_TEMPLATES` names
(`load_codes`); `nuanliu sms templates --toml` prints a complete one with placeholder codes.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from string import Formatter
from typing import Any

LANGUAGES = ("zh", "en")
PROVIDERS = ("aliyun", "tencent")
#: what each provider's console shows before the text; our own gateways prepend it
SIGNATURE = {"zh": "【暖流】", "en": "Nuanliu: "}
#: the code `--toml` writes for each provider, to be replaced by the approved one
PLACEHOLDER_CODES = {"aliyun": "SMS_000000", "tencent": "000000"}


@dataclass(frozen=True)
class Template:
    """One kind of message: its variables (in this order for Tencent's `{1}`…), its texts
    without the signature, the parts it may take and example values (real ones, from the
    demo data) for the listing and the tests."""

    kind: str
    variables: tuple[str, ...]
    zh: str
    en: str
    example: Mapping[str, str] = field(default_factory=dict)
    max_segments: int = 1
    purpose: str = ""
    #: variables that must not stay in the SMS log once the text is handed over (a one-time
    #: code): the row and its event keep `REDACTED` in their place (see :func:`redacted`)
    secret: tuple[str, ...] = ()

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def example_in(self, lang: str) -> dict[str, str]:
        """Example values as a volunteer in `lang` gets them (names in English)."""
        if lang != "en":
            return dict(self.example)
        return {k: _EXAMPLE_EN.get(v, v) for k, v in self.example.items()}


def _t(
    kind: str,
    zh: str,
    en: str,
    *,
    purpose: str,
    max_segments: int = 1,
    **example: str,
) -> Template:
    names = tuple(dict.fromkeys(f for _, f, _, _ in Formatter().parse(zh) if f))
    return Template(kind, names, zh, en, example, max_segments, purpose)


_TASK = {"task": "平安返乡服务站值守", "place": "云岩汽车客运站平安返乡服务站"}
_WHEN = {"window": "1月25日07:00-11:00", "code": "K4F"}
#: the demo's English names for the examples above (`task_params` picks them in English)
_EXAMPLE_EN = {
    "平安返乡服务站值守": "Homeward-journey station shift",
    "云岩汽车客运站平安返乡服务站": "Yunyan bus station",
    "1月25日07:00-11:00": "25 Jan 07:00-11:00",
    "K4F、C3M、A7K": "K4F, C3M, A7K",
    "面40 水60 饼20 感10": "MIAN40 SHUI60 BING20 GAN10",
    "面38 水60 饼20 感10": "MIAN38 SHUI60 BING20 GAN10",
    "面40 水60 饼20 糕20 感10": "MIAN40 SHUI60 BING20 GAO20 GAN10",
    "面38 水60 饼20 糕20 感10": "MIAN38 SHUI60 BING20 GAO20 GAN10",
    "面38": "MIAN38",
    "面2": "MIAN2",
    "“水”报了两次": "SHUI given twice",
    "张三丰": "Zhang Sanfeng",
    "火星区": "Mars",
    "到": "IN",
    "急救": "first aid",
}

_ALL: tuple[Template, ...] = (
    _t(
        "offer",
        "{task}：{place}，{window}。回复1接受 2拒绝，{minutes}分钟内有效（编号{code}），TD退订",
        "{task} at {place}, {window}. Reply 1 to accept, 2 to decline within "
        "{minutes} min (ref {code}). STOP to opt out",
        purpose="an offer of a task slot",
        max_segments=2,
        **_TASK,
        **_WHEN,
        minutes="10",
    ),
    _t(
        "accepted",
        "已确认：{task}，{place}，{window}（编号{code}）。完成后回复“完成”，谢谢！",
        "confirmed, {task} at {place}, {window} (ref {code}). Reply DONE when finished. Thank you!",
        purpose="the confirmation of an accepted offer",
        max_segments=2,
        **_TASK,
        **_WHEN,
    ),
    _t(
        "declined",
        "已收到，您这次不参加。谢谢，下次再联系您。",
        "noted, you are not taking this one. Thank you, we will ask again.",
        purpose="the answer to a declined offer",
    ),
    _t(
        "expired",
        "“{task}”的邀请已过期，已转给其他志愿者。谢谢！",
        "the offer for {task} has expired and went to another volunteer. Thanks!",
        purpose="an offer that expired unanswered",
        task=_TASK["task"],
    ),
    _t(
        "cancelled",
        "取消通知：{task}（{window}）已取消，您无需前往。谢谢！",
        "{task} ({window}) is cancelled; please do not go. Thank you!",
        purpose="a cancelled assignment",
        task=_TASK["task"],
        window=_WHEN["window"],
    ),
    _t(
        "assigned",
        "调度员为您安排：{task}，{place}，{window}（编号{code}）。不能去请回复2",
        "a dispatcher assigned you {task} at {place}, {window} (ref {code}). "
        "Reply 2 if you cannot go.",
        purpose="an assignment made by a dispatcher",
        max_segments=2,
        **_TASK,
        **_WHEN,
    ),
    _t(
        "reminder",
        "提醒：{task}，{place}，{window}即将开始。注意防滑保暖！",
        "reminder, {task} at {place}, {window} starts soon. Stay safe and warm!",
        purpose="the reminder before a shift",
        max_segments=2,
        **_TASK,
        window=_WHEN["window"],
    ),
    _t(
        "completed",
        "“{task}”已记录完成，辛苦了，谢谢您！",
        "{task} recorded as done. Thank you for your work!",
        purpose="a task recorded as done",
        task=_TASK["task"],
    ),
    _t(
        "opted_out",
        "您已退订，不会再收到任务短信。如需恢复请联系工会。",
        "you are unsubscribed and will get no more task messages. Contact the union to rejoin.",
        purpose="the opt-out confirmation",
    ),
    _t(
        "help",
        "未能识别。回复1接受 2拒绝，完成后回复“完成”，TD退订。",
        "not understood. Reply 1 to accept, 2 to decline, DONE when finished, STOP to opt out.",
        purpose="the help text for a reply we could not read",
    ),
    _t(
        "unknown_number",
        "本号码未登记为志愿者。报名请回复：报名 姓名 区县，如“报名 张三 云岩区”",
        "this number is not registered as a volunteer. To join, text: JOIN name district, "
        'e.g. "JOIN Zhang Yunyan"',
        purpose="the answer to a number not on the roster (it says how to sign up)",
    ),
    _t(
        "offer_closed",
        "“{task}”的邀请已结束（已过期或已满员），本次无需前往，谢谢！",
        "the offer for {task} is closed (expired or full); no need to go. Thank you!",
        purpose="a yes to an offer that is closed",
        task=_TASK["task"],
    ),
    _t(
        "which_offer",
        "您有多个待回复的邀请：{codes}。请回复编号加1或2，如“{example} 1”",
        'you have several open offers: {codes}. Reply with the ref and 1 or 2, e.g. "{example} 1"',
        purpose="a reply that does not say which of several offers",
        codes="K4F、C3M、A7K",
        example="K4F",
    ),
    # Logistics: a station manager's shipments and receipts by SMS (logistics/sms_receipts.py)
    _t(
        "shipment",
        # no station name: the manager knows their station, and without it a shipment of the
        # usual four or five lines fits one part
        "发货{code}：{counts}。到货回“收 {code} 全”或逐项“收 {code} {example}”",
        "shipment {code}: {counts}. On arrival reply RCV {code} ALL or per item, "
        "e.g. RCV {code} {example}",
        purpose="a shipment on its way to a station",
        max_segments=2,
        code="S1024",
        counts="面40 水60 饼20 感10",
        example="面38",
    ),
    _t(
        "receipt_not_manager",
        "本号码未登记为服务站负责人，不能确认收货。",
        "this number is not a station manager's; it cannot confirm receipts.",
        purpose="a receipt text from a number that manages no station",
    ),
    _t(
        "receipt_unknown_shipment",
        "找不到货单{code}，请核对单号后重发，如 收 S12 全。",
        "no shipment {code}; check the reference and send again, e.g. RCV S12 ALL.",
        purpose="a receipt for a shipment that does not exist",
        code="S1024",
    ),
    _t(
        "receipt_wrong_station",
        "货单{code}不是发往{station}的。",
        "shipment {code} is not going to {station}.",
        purpose="a receipt for another station's shipment",
        code="S1024",
        station="云岩汽车客运站平安返乡服务站",
    ),
    _t(
        "receipt_already",
        "货单{code}已确认收货，未重复登记。如需更正请在服务站页面操作。",
        "shipment {code} was already received; nothing booked twice. Correct it on the "
        "station page.",
        purpose="a second receipt for the same shipment",
        code="S1024",
    ),
    _t(
        "receipt_booked",
        "{code}已收货：{booked}。1小时内可在页面更正一次",
        "receipt of {code} booked: {booked}. You may correct it once on the page within an hour.",
        purpose="a receipt booked as sent",
        code="S10240",
        booked="面40 水60 饼20 糕20 感10",
    ),
    _t(
        "receipt_booked_short",
        "{code}已收货：{booked}，少{short}已报调度。1小时内可在页面更正一次",
        "receipt of {code} booked: {booked}; {short} missing, reported to dispatch. "
        "Correct it once on the page within an hour.",
        purpose="a receipt booked with a shortfall",
        code="S10240",
        booked="面38 水60 饼20 糕20 感10",
        short="面2",
    ),
    _t(
        "receipt_question",
        "{code}未登记：{why}。发货为{sent}。请回“收 {code} 全”或逐项如“收 {code} {sent}”",
        "{code} not booked: {why}. Sent: {sent}. Reply RCV {code} ALL or per item, "
        "e.g. RCV {code} {sent}",
        purpose="a receipt text we could not book, with the question",
        max_segments=2,
        code="S1024",
        why="“水”报了两次",
        sent="面40 水60 饼20 感10",
    ),
    # Volunteers from sign-up to hours (issue 15): `报名 姓名 区 [技能…]` and its outcome
    _t(
        "signup_received",
        "{person}，报名已收到，审核后短信通知您。谢谢！",
        "{person}, we got your sign-up and will text you once it is reviewed. Thank you!",
        purpose="a sign-up by SMS waiting for approval",
        person="张三丰",
    ),
    _t(
        "signup_format",
        "报名请回复：报名 姓名 区县 技能（可选），如“报名 张三 云岩区 急救”",
        'to join, text: JOIN name district [skills], e.g. "JOIN Zhang Yunyan first_aid"',
        purpose="a sign-up text without a name and a district",
    ),
    _t(
        "signup_bad_district",
        "未找到区县“{district}”，请用贵阳的区县名，如云岩区、南明区。",
        "no district called {district}. Use a Guiyang district name, e.g. Yunyan or Nanming.",
        purpose="a sign-up naming a district we do not know",
        district="火星区",
    ),
    _t(
        "signup_duplicate",
        "本号码已是暖流志愿者，无需重复报名。谢谢！",
        "this number is already a Nuanliu volunteer; no need to sign up again.",
        purpose="a sign-up from a number on the roster",
    ),
    _t(
        "signup_pending",
        "您的报名正在审核中，结果会短信通知您，无需重复报名。",
        "your sign-up is being reviewed; we will text you the outcome. No need to sign up again.",
        purpose="a text from a number whose sign-up waits for approval",
    ),
    _t(
        "signup_refused_before",
        "您此前的报名未通过审核，如有疑问请联系工会。",
        "your earlier sign-up was not approved. Please contact the union with any questions.",
        purpose="a text from a number whose sign-up was declined",
    ),
    _t(
        "signup_approved",
        "{person}，报名已通过，欢迎加入暖流志愿者！有任务会短信邀请您，TD退订",
        "{person}, you are approved, welcome! We will text you when there is work. STOP to opt out",
        purpose="a sign-up approved by a dispatcher",
        person="张三丰",
    ),
    _t(
        "signup_declined",
        "很抱歉，您的报名未通过审核。如有疑问请联系工会。",
        "sorry, your sign-up was not approved. Please contact the union with any questions.",
        purpose="a sign-up declined by a dispatcher",
    ),
    # the public sign-up page (`/join`): the number is confirmed by a one-time code
    replace(  # `secret` beside the examples' keywords would be one of them to mypy
        _t(
            "join_code",
            "您的暖流志愿者报名验证码：{code}，{minutes}分钟内有效。如非本人操作请忽略。",
            "your Nuanliu sign-up code is {code}, valid for {minutes} min. "
            "If you did not ask for it, ignore this text.",
            purpose="the one-time code that confirms a number on the sign-up page",
            code="482913",
            minutes="10",
        ),
        secret=("code",),
    ),
    # on shift: `到`, `离`, `时长` (times are local, Asia/Shanghai)
    _t(
        "checked_in",
        "{time}已签到：{task}（编号{code}）。离开时回复“离”，注意安全！",
        "checked in at {time}, {task} (ref {code}). Text OUT when you leave. Stay safe!",
        purpose="the answer to a check-in",
        time="08:05",
        task=_TASK["task"],
        code="K4F",
    ),
    _t(
        "checked_in_early",
        "{time}已签到：{task}（{code}），时长从{start}起计。离开回复“离”",
        "checked in at {time}, {task} (ref {code}); hours count from {start}. "
        "Text OUT when you leave.",
        purpose="the answer to a check-in before the window opens",
        time="06:40",
        task=_TASK["task"],
        code="K4F",
        start="07:00",
    ),
    _t(
        "already_checked_in",
        "您已于{time}签到：{task}（编号{code}）。离开时回复“离”",
        "you checked in at {time} already, {task} (ref {code}). Text OUT when you leave.",
        purpose="a second check-in",
        time="08:05",
        task=_TASK["task"],
        code="K4F",
    ),
    _t(
        "checked_out",
        "{time}已签退：{task}，本次服务{hours}小时。辛苦了，谢谢您！",
        "checked out at {time}, {task}: {hours} h served. Thank you!",
        purpose="the answer to a check-out (it replaces the completed text)",
        time="11:40",
        task=_TASK["task"],
        hours="3.5",
    ),
    _t(
        "not_checked_in",
        "您还没有签到，无法签退。到达后请回复“到 编号”签到。",
        'you have not checked in, so there is nothing to check out of. Text "IN ref" when '
        "you arrive.",
        purpose="a check-out without a check-in",
    ),
    _t(
        "no_task_to_check_in",
        "没有找到您可签到的任务。请回复“到 编号”，编号见确认短信。",
        'no task of yours to check in to. Text "IN ref" with the ref from your confirmation.',
        purpose="a check-in naming no accepted task open now",
    ),
    _t(
        "check_in_too_early",
        "{task}{start}开始，请在开始前{minutes}分钟内再签到（编号{code}）。",
        "{task} starts at {start}; check in at most {minutes} min before (ref {code}).",
        purpose="a check-in long before the window opens",
        task=_TASK["task"],
        start="07:00",
        minutes="60",
        code="K4F",
    ),
    _t(
        "which_task",
        "您有多个任务：{codes}。请回复“{word} 编号”，如“{word} {example}”",
        'you have several tasks: {codes}. Reply "{word} ref", e.g. "{word} {example}"',
        purpose="a check-in or check-out that does not say which of several tasks",
        codes="K4F、C3M、A7K",
        word="到",
        example="K4F",
    ),
    _t(
        "hours",
        "您{year}年已服务{hours}小时，共{count}次任务。谢谢您！",
        "in {year} you served {hours} h in {count} tasks. Thank you!",
        purpose="the answer to 时长: the volunteer's hours this year",
        year="2026",
        hours="12.5",
        count="4",
    ),
    # no-shows (NUANLIU_NO_SHOW_REMIND_AFTER, NUANLIU_NO_SHOW_AFTER)
    _t(
        "no_show_warning",
        "{task}已于{start}开始，您未签到。到了回复“到 {code}”，来不了回复2",
        'the {task} started at {start} and you have not checked in. Text "IN {code}" when '
        "there, 2 if you cannot come.",
        purpose="the one reminder to a volunteer not checked in after the start",
        task=_TASK["task"],
        start="07:00",
        code="K4F",
    ),
    _t(
        "no_show_released",
        "您未签到，“{task}”的岗位已转给他人。如有误请联系调度员。",
        "you did not check in, so your place in {task} went to another volunteer. "
        "Contact the dispatcher if this is wrong.",
        purpose="a no-show's slot given to another volunteer",
        task=_TASK["task"],
    ),
)

_SKILLS_AND_ROTA: tuple[Template, ...] = (
    # skills that expire, and the travel-rush rota (issue 15, items 6 and 7)
    _t(
        "skill_expiring",
        "您的{skill}证书将于{date}到期（还有{days}天）。到期后不再安排需要该资质的任务，请及时复审。",
        "your {skill} certificate expires on {date} (in {days} days). After that we will not "
        "ask you for work that needs it; please renew it.",
        purpose="the one reminder 30 days before a skill's certificate expires",
        skill="急救",
        date="2027-03-01",
        days="30",
    ),
    _t(
        "rota_code",
        "排班登录验证码：{code}，{minutes}分钟内有效。请勿告诉他人。",
        "your rota sign-in code is {code}, valid for {minutes} min. Do not share it.",
        purpose="the one-time code that signs a volunteer in on the rota page",
        code="482913",
        minutes="10",
    ),
    _t(
        "gave_back",
        "已退班：{task}，{window}（编号{code}）。岗位将转给其他志愿者，谢谢告知！",
        "shift given back: {task}, {window} (ref {code}). It goes to another volunteer. "
        "Thanks for telling us!",
        purpose="a rota shift given back in time",
        max_segments=2,
        task=_TASK["task"],
        **_WHEN,
    ),
    _t(
        "give_back_too_late",
        "{task}（{window}）{hours}小时内开始，已不能退班。确实来不了请联系调度员。",
        "{task} ({window}) starts within {hours} h, too late to give it back. If you really "
        "cannot come, call the dispatcher.",
        purpose="a give-back refused: the shift starts within the notice",
        max_segments=2,
        task=_TASK["task"],
        window=_WHEN["window"],
        hours="24",
    ),
    _t(
        "give_back_none",
        "没有找到可退的班次。请回复“退 编号”，编号见确认短信。",
        'no shift of yours to give back. Text "BACK ref" with the ref from your confirmation.',
        purpose="a give-back naming no accepted shift",
    ),
)
_ALL = (*_ALL, *_SKILLS_AND_ROTA)

TEMPLATES: dict[str, Template] = {t.kind: t for t in _ALL}


class UnknownTemplate(KeyError):
    """No template by that name."""


class TemplateCodesError(ValueError):
    """The template codes file cannot be used; the message is one line for a person."""


def get(kind: str) -> Template:
    try:
        return TEMPLATES[kind]
    except KeyError:
        raise UnknownTemplate(kind) from None


def parameters(name: str) -> set[str]:
    """The parameters template `name` needs (the same in every language)."""
    return set(get(name).variables)


def language(lang: str | None) -> str:
    """ "en" for English (any "en-…"), else "zh"."""
    return "en" if (lang or "").lower().startswith("en") else "zh"


def values(name: str, lang: str = "zh", **params: Any) -> dict[str, str]:
    """The template's variables as the strings that go into it: sequences joined with the
    language's list separator; a missing variable raises KeyError (a bug shows in tests
    rather than in an SMS). Extra parameters are left out: a provider refuses unknown ones."""
    template = get(name)
    lang = language(lang)
    separator = "、" if lang == "zh" else ", "
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, Sequence) and not isinstance(value, str):
            out[key] = separator.join(str(v) for v in value)
        else:
            out[key] = str(value)
    if name == "which_offer" and "example" not in out:
        codes = params.get("codes") or []
        first = codes[0] if isinstance(codes, Sequence) and not isinstance(codes, str) else codes
        out["example"] = str(first or "").split("、")[0].split(",")[0].strip()
    missing = [v for v in template.variables if v not in out]
    if missing:
        raise KeyError(f"template {name!r} needs {', '.join(missing)}")
    return {v: out[v] for v in template.variables}


def render(name: str, lang: str = "zh", **params: Any) -> str:
    """The text of template `name` in `lang` ("zh" default; anything but "en" gets Chinese)
    with the signature in front, as the phone shows it."""
    lang = language(lang)
    filled = values(name, lang, **params)
    return SIGNATURE[lang] + get(name).text(lang).format(**filled)


def provider_text(name: str, provider: str, lang: str = "zh") -> str:
    """The text to submit to `provider` for approval: Aliyun names its variables `${name}`,
    Tencent numbers them `{1}`, `{2}`… in the template's order."""
    template = get(name)
    lang = language(lang)
    if provider == "aliyun":
        marks = {v: "${" + v + "}" for v in template.variables}
    elif provider == "tencent":
        marks = {v: "{" + str(i) + "}" for i, v in enumerate(template.variables, 1)}
    else:
        raise ValueError(f"unknown SMS provider {provider!r}")
    return template.text(lang).format(**marks)


def length(text: str) -> tuple[int, int]:
    """Characters and SMS parts of a text as the provider counts them: a Chinese (UCS-2)
    text is 70 characters in one part, 67 per part when split; signature included."""
    chars = len(text.encode("utf-16-le")) // 2
    if all(ord(ch) < 128 for ch in text):
        return chars, 1 if chars <= 160 else math.ceil(chars / 153)
    return chars, 1 if chars <= 70 else math.ceil(chars / 67)


# -- the approved codes -----------------------------------------------------------------------
#: template id (the kind for the Chinese text, `kind.en` for the English one) → provider → code
Codes = dict[str, dict[str, str]]


def template_id(kind: str, lang: str) -> str:
    """What a queued text names: the kind for its Chinese text, `kind.en` for its English
    one; each is a template of its own at a provider, with its own code."""
    get(kind)
    return f"{kind}.en" if language(lang) == "en" else kind


def template_ids() -> list[str]:
    return [tid for kind in TEMPLATES for tid in (kind, f"{kind}.en")]


def split_id(tid: str) -> tuple[str, str]:
    """(kind, lang) of a template id."""
    kind, _, lang = tid.partition(".")
    return kind, language(lang)


#: what stands in the log for a secret variable once its text was handed over
REDACTED = "******"


def redacted(
    tid: str | None, params: Mapping[str, str] | None
) -> tuple[str, dict[str, str]] | None:
    """The text and parameters of a queued message of template id `tid` with its secret
    variables (`Template.secret`) replaced by REDACTED, signature included; None for a
    template without secrets (or no template: free text has none)."""
    if not tid or params is None:
        return None
    kind, lang = split_id(tid)
    template = TEMPLATES.get(kind)
    if template is None or not template.secret:
        return None
    hidden = {k: (REDACTED if k in template.secret else v) for k, v in params.items()}
    return render(kind, lang, **hidden), hidden


def load_codes(path: Path) -> Codes:
    """The approved codes in the TOML file at `path`: one table per message kind with a code
    per provider, and an `en` table inside it for the English text (`[offer]` /
    `aliyun = "SMS_123"` / `tencent = "456"`, `[offer.en]` / …). Raises TemplateCodesError
    naming the first problem: a file that cannot be read, a kind or provider we do not know,
    a code that is not a short non-empty string."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateCodesError(
            f"NUANLIU_SMS_TEMPLATES: cannot read {path}: {exc.strerror}"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateCodesError(f"NUANLIU_SMS_TEMPLATES: {path} is not TOML: {exc}") from None
    codes: Codes = {}

    def take(tid: str, table: object) -> None:
        if not isinstance(table, dict):
            raise TemplateCodesError(f"NUANLIU_SMS_TEMPLATES: [{tid}] must be a table")
        for provider, code in table.items():
            if provider == "en" and "." not in tid:
                take(f"{tid}.en", code)
                continue
            if provider not in PROVIDERS:
                raise TemplateCodesError(
                    f"NUANLIU_SMS_TEMPLATES: [{tid}] unknown provider {provider!r}"
                )
            if not isinstance(code, str) or not code.strip() or len(code) > 32:
                raise TemplateCodesError(
                    f"NUANLIU_SMS_TEMPLATES: [{tid}] {provider} must be a template code"
                )
            codes.setdefault(tid, {})[provider] = code.strip()

    for kind, table in data.items():
        if kind not in TEMPLATES:
            raise TemplateCodesError(f"NUANLIU_SMS_TEMPLATES: unknown message kind [{kind}]")
        take(kind, table)
    return codes


def codes_for(codes: Codes, provider: str) -> dict[str, str]:
    """template id → code for `provider`; raises TemplateCodesError in one line naming every
    template without one: a text that cannot be sent must stop the start, not be lost."""
    missing = [tid for tid in template_ids() if provider not in codes.get(tid, {})]
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        raise TemplateCodesError(
            f"NUANLIU_SMS_TEMPLATES has no {provider} template code for {shown} "
            "(`nuanliu sms templates --toml` prints a complete file)"
        )
    return {tid: codes[tid][provider] for tid in template_ids()}


def toml_skeleton() -> str:
    """A complete `NUANLIU_SMS_TEMPLATES` file: every kind in both languages, both providers,
    placeholder codes, with the text to submit above each."""
    lines = [
        "# NUANLIU_SMS_TEMPLATES: message kind → provider → approved template code.",
        "# Submit each text under the signature 【暖流】, then replace the placeholder codes.",
        "",
    ]
    for tid in template_ids():
        kind, lang = split_id(tid)
        if lang == "zh":
            lines.append(f"# {TEMPLATES[kind].purpose}")
        for provider in PROVIDERS:
            lines.append(f"# {provider}: {provider_text(kind, provider, lang)}")
        lines.append(f"[{tid}]")
        for provider in PROVIDERS:
            lines.append(f'{provider} = "{PLACEHOLDER_CODES[provider]}"')
        lines.append("")
    return "\n".join(lines)


def listing() -> list[dict[str, Any]]:
    """Each kind with its variables and, per language, the length (characters, parts) of its
    fixed text and of the text with the example values, signature included."""
    rows = []
    for kind, template in TEMPLATES.items():
        row: dict[str, Any] = {
            "kind": kind,
            "variables": template.variables,
            "max_segments": template.max_segments,
            "purpose": template.purpose,
        }
        for lang in LANGUAGES:
            fixed = SIGNATURE[lang] + template.text(lang).format(
                **dict.fromkeys(template.variables, "")
            )
            row[f"{lang}_text"] = template.text(lang)
            row[f"{lang}_fixed"] = length(fixed)
            row[f"{lang}_example"] = length(render(kind, lang, **template.example_in(lang)))
        rows.append(row)
    return rows
