"""What a text message from a volunteer or a station manager means.

`parse_reply` never raises. It normalises the text (NFKC, so full-width `ＹＥＳ`/`１` become
`YES`/`1`; upper case; punctuation and spaces are separators), then accepts exactly one reply
word, optionally with one offer short code before or after it (`A7K 1`, `1 A7K`, `接受A7K`).
Anything else, including two different reply words, is "unknown", so the sender gets the help
text rather than a guess.

Opt-out words follow Twilio's set and the Chinese convention (STOP, UNSUBSCRIBE, END, QUIT,
CANCEL, TD, T, 退订; 退订 also inside a longer Chinese phrase such as 我要退订), matched as whole
words. ECOSYSTEM lists `N` and `R` as Chinese opt-out words too, but Nuanliu's offers say "2/N to
decline" (issue 3), so `N` is a decline here; `R` is not a reply word at all.

Volunteers also answer in plain Chinese: a few whole phrases are replies of their own
(`接受任务`, `收到，去`, `不去了`, `来不了`, `去不了`, …), matched on the message's Chinese words
joined without their separators, so `收到 去` and `收到，去。` are the same phrase; an offer code
may stand beside them (`接受任务 K4F`). A phrase must be one of the list exactly: `不知道去不去`
or `收到` alone (which acknowledges the text, it does not accept the task) stays "unknown".

Station managers confirm receipts with `收 S123 全` or `RCV S123 ...`: intent "receipt", the
reference in `code` and the rest of the message (normalised) in `rest` for logistics to read.

A person joins with `报名 姓名 区 [技能…]` (or `JOIN name district …`; issue 15):
intent "signup", the words after the keyword in `rest` (NFKC, case kept, any
punctuation a separator: `报名：张三，云岩区、急救`), split by :func:`signup_fields`.
Volunteers on shift text `到 [编号]` (check in), `离 [编号]` (check out) and `时长`
(their hours this year), read like the reply words (English: `IN`, `OUT`, `HOURS`).
A rota shift is given back with `退 [编号]` (`退班`, `退岗`; English `BACK`): intent
"give_back". `退订` stays the opt-out, and `退` inside a longer word (`我要退`) is not a reply.
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal, cast, get_args

from events.payloads.sms import SmsReceived

Intent = Literal[
    "accept",
    "decline",
    "done",
    "stop",
    "receipt",
    "signup",
    "check_in",
    "check_out",
    "hours",
    "give_back",
    "unknown",
]
INTENTS: frozenset[str] = frozenset(get_args(Intent))

ACCEPT = {"1", "Y", "YES", "OK", "是", "好", "好的", "接受", "可以", "同意"}
DECLINE = {"2", "N", "NO", "否", "不", "不要", "不去", "不行", "拒绝", "不接受"}
DONE = {"完成", "已完成", "DONE", "FINISHED"}
#: whole Chinese phrases (their words joined without separators) that are a reply of their own;
#: only unmistakable ones: anything with a doubt in it (`不知道去不去`, `看情况`) is not here,
#: nor `我去` alone, which is as often an exclamation as a yes
ACCEPT_PHRASES = {
    "接受任务",
    "接受邀请",
    "收到去",
    "收到我去",
    "收到马上去",
    "收到可以去",
    "好我去",
    "可以去",
    "能去",
}
DECLINE_PHRASES = {
    "不去了",
    "我不去",
    "我不去了",
    "来不了",
    "去不了",
    "去不成",
    "不能去",
    "不能来",
    "不来了",
    "没空",
    "没时间",
}
STOP = {"退订", "STOP", "TD", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "T", "STOPALL"}
#: on shift: arrived, left, and "how many hours have I served this year"
CHECK_IN = {"到", "已到", "签到", "到达", "IN", "CHECKIN", "ARRIVED"}
CHECK_OUT = {"离", "离开", "签退", "OUT", "CHECKOUT", "LEFT"}
HOURS = {"时长", "查时长", "服务时长", "HOURS"}
#: a rota shift given back (issue 15): only as a whole word, never `退订`
GIVE_BACK = {"退", "退班", "退岗", "BACK", "GIVEBACK"}

WORDS: dict[str, Intent] = {
    **dict.fromkeys(ACCEPT, "accept"),
    **dict.fromkeys(DECLINE, "decline"),
    **dict.fromkeys(DONE, "done"),
    **dict.fromkeys(STOP, "stop"),
    **dict.fromkeys(CHECK_IN, "check_in"),
    **dict.fromkeys(CHECK_OUT, "check_out"),
    **dict.fromkeys(HOURS, "hours"),
    **dict.fromkeys(GIVE_BACK, "give_back"),
}
PHRASES: dict[str, Intent] = {
    **dict.fromkeys(ACCEPT_PHRASES, "accept"),
    **dict.fromkeys(DECLINE_PHRASES, "decline"),
}

#: An offer short code: 2-8 letters and digits with at least one of each (so that no reply
#: word and no plain number can be mistaken for one). `new_code()` makes codes that fit.
CODE_RE = re.compile(r"^(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*[0-9])[A-Z0-9]{2,8}$")
#: Letters and digits that cannot be confused on a small screen or when read aloud.
CODE_LETTERS = "ACDEFHJKMNPRTUVWXY"
CODE_DIGITS = "2345679"

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[A-Z0-9]+")
_WORD_RE = re.compile(r"\w+")
_RECEIPT_RE = re.compile(
    r"^(?:收到?|RCV|RECV|RECEIVED)[\s\W_]*(?P<code>[A-Z]*[0-9][A-Z0-9-]*)(?P<rest>.*)$", re.S
)
_CJK_TOKEN_RE = re.compile(rf"^[{_CJK}]+$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
#: the sign-up keyword (报名, JOIN) opens the text; the name, district and skills follow.
#: `报名张三 …` may run into the name; `JOIN` must be a word of its own (`JOINED` is not it)
_SIGNUP_RE = re.compile(r"^[\W_]*(?:报名|JOIN(?![A-Z0-9]))(?P<rest>.*)$", re.S | re.I)
#: what separates a sign-up's fields: spaces and any punctuation (、，：；…) but the `_` and
#: `-` of skill names (`first_aid`, `first-aid`)
_FIELD_SEP_RE = re.compile(r"[^\w-]+")


@dataclass(frozen=True)
class Reply:
    """The meaning of a text: its intent, the code it named (offer code, or the shipment
    reference of a receipt) and the text as received. `rest` is the normalised remainder of a
    receipt (`全`, `面 20 水 10`, …); empty otherwise."""

    intent: Intent
    code: str | None
    text: str
    rest: str = ""


def normalise(text: str) -> str:
    """NFKC, upper case, zero-width characters removed, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).upper()
    return " ".join(folded.split())


def new_code(length: int = 3) -> str:
    """A random offer short code that `parse_reply` recognises: letter, digit, letter…"""
    # one draw from the OS for the whole code, read as mixed-radix digits (uniform, as a
    # choice per character is, at a third of the cost: 5,000 offers draw 5,000 codes at once)
    alphabets = [CODE_LETTERS if i % 2 == 0 else CODE_DIGITS for i in range(length)]
    n = secrets.randbelow(math.prod(len(a) for a in alphabets))
    chars = []
    for alphabet in alphabets:
        n, index = divmod(n, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def is_code(token: str) -> bool:
    return bool(CODE_RE.match(token))


def parse_reply(text: str) -> Reply:
    """The intent of an SMS reply; never raises, "unknown" when in doubt."""
    try:
        return interpret(text)
    except Exception:  # a parser bug must not lose an inbound message: it is just unknown
        return Reply("unknown", None, text if isinstance(text, str) else "")


def interpret(text: str) -> Reply:
    """The parser itself, without `parse_reply`'s safety net: a bug here raises (the tests
    feed it arbitrary text so that a bug fails them instead of hiding as "unknown")."""
    signup = _SIGNUP_RE.match(unicodedata.normalize("NFKC", text).translate(_INVISIBLE))
    if signup:
        rest = " ".join(_FIELD_SEP_RE.split(signup.group("rest"))).strip()
        return Reply("signup", None, text, rest)
    clean = normalise(text)
    stripped = re.sub(r"^[\W_]+|[\W_]+$", "", clean)
    receipt = _RECEIPT_RE.match(stripped)
    if receipt:
        rest = re.sub(r"^[\s\W_]+", "", receipt.group("rest")).strip()
        return Reply("receipt", receipt.group("code"), text, rest)
    tokens: list[str] = []
    for word in _WORD_RE.findall(clean):
        parts = _TOKEN_RE.findall(word)
        if "".join(parts) != word:  # letters of another script, underscores: not a reply
            return Reply("unknown", None, text)
        tokens.extend(parts)
    phrase = _phrase(tokens, text)
    if phrase is not None:
        return phrase
    intents: set[Intent] = set()
    codes: set[str] = set()
    for token in tokens:
        if token in WORDS:
            intents.add(WORDS[token])
        elif is_code(token):
            codes.add(token)
        elif "退订" in token:
            intents.add("stop")
        else:
            return Reply("unknown", _one(codes), text)
    code = _one(codes)
    if len(codes) > 1:
        return Reply("unknown", None, text)
    if "stop" in intents:
        # an opt-out is honoured even next to other words ("1 TD"): missing one is worse
        return Reply("stop", code, text)
    if len(intents) == 1:
        return Reply(intents.pop(), code, text)
    return Reply("unknown", code, text)


def _phrase(tokens: list[str], text: str) -> Reply | None:
    """The reply a whole Chinese phrase makes, beside at most one offer code; None when the
    Chinese words joined are not a phrase (the word-by-word reading decides then)."""
    words = [t for t in tokens if not is_code(t)]
    codes = {t for t in tokens if is_code(t)}
    if len(codes) > 1 or not words or not all(_CJK_TOKEN_RE.match(w) for w in words):
        return None
    intent = PHRASES.get("".join(words))
    return Reply(intent, _one(codes), text) if intent else None


def _one(codes: set[str]) -> str | None:
    return next(iter(codes)) if len(codes) == 1 else None


@dataclass(frozen=True)
class SignupFields:
    """What a sign-up text says: a name, a district (name or code, resolved by the roster)
    and any skills (as written; the roster maps `急救` to `first_aid`)."""

    name: str
    district: str
    skills: tuple[str, ...]


def signup_fields(rest: str) -> SignupFields | None:
    """The fields of a sign-up's `rest`, or None when it lacks the name or the district
    (the sender then gets the form to use). `报名张三云岩区` without separators is None too:
    where the name ends cannot be told."""
    words = rest.split()
    if len(words) < 2:
        return None
    return SignupFields(words[0], words[1], tuple(words[2:]))


def reply_of(event: SmsReceived) -> Reply:
    """The reading an `SmsReceived` carries (made once, when the text arrived). A version-1
    event (staged before readings travelled with the text) or one whose intent this build
    does not know is read again from its body."""
    if event.intent in INTENTS:
        return Reply(cast(Intent, event.intent), event.code, event.body, event.rest)
    return parse_reply(event.body)
