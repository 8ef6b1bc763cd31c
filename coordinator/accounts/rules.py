"""What a username and a password must be: one rule each, kept here and nowhere else.

The username form mirrors :data:`USERNAME_PATTERN` in its `pattern` attribute, so a browser
says no before the server does; the server's check (:func:`check_username`) is the rule. HTML
compiles `pattern` with the `v` flag (Chromium since 2023), under which a bare `-` in a class is
a syntax error and the whole attribute is silently ignored: the pattern below escapes it, and a
browser test compiles it with the `v` flag.

Passwords: at least `MIN_PASSWORD_LENGTH` characters, not the username, and an estimated
strength of at least `MIN_PASSWORD_SCORE` from zxcvbn (Dropbox's estimator: common passwords,
dictionary words, names, keyboard runs, years and dates), which also knows the person's own
names and this site's words, so `dispatcher2024` or `nuanliu123456` are refused like
`1234567890`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from zxcvbn import zxcvbn

from coordinator.accounts.errors import BadUsername, GuessablePassword, WeakPassword

USERNAME_MIN = 2
USERNAME_MAX = 32
#: besides letters (any script, with their combining marks) and decimal digits
USERNAME_PUNCTUATION = "_.@-"
#: the same rule for an HTML `pattern` attribute (anchored by the browser; `v` flag)
USERNAME_PATTERN = r"[\p{L}\p{M}\p{Nd}_.@\-]{" + f"{USERNAME_MIN},{USERNAME_MAX}" + "}"

MIN_PASSWORD_LENGTH = 10
#: zxcvbn's score runs 0-4; 3 is "safely unguessable: moderate protection from offline attack"
MIN_PASSWORD_SCORE = 3
#: zxcvbn's cost grows with the length; what lies past this many characters only adds strength
SCORED_PREFIX = 100
#: words every account here shares, so they count as guessable as the username does
SITE_WORDS = (
    "nuanliu",
    "暖流",
    "guiyang",
    "贵阳",
    "admin",
    "administrator",
    "dispatcher",
    "dispatch",
    "station",
    "manager",
    "stationmanager",
    "volunteer",
    "调度",
    "站长",
    "管理员",
    "志愿者",
)

#: zxcvbn's warnings (English) in Chinese, for the page in Chinese mode
_WARNINGS_ZH = {
    "This is a top-10 common password.": "这是最常见的十个密码之一。",
    "This is a top-100 common password.": "这是最常见的一百个密码之一。",
    "This is a very common password.": "这是非常常见的密码。",
    "This is similar to a commonly used password.": "这与常见密码很相似。",
    "A word by itself is easy to guess.": "单个词很容易被猜到。",
    "Names and surnames by themselves are easy to guess.": "单独的姓名很容易被猜到。",
    "Common names and surnames are easy to guess.": "常见的姓名很容易被猜到。",
    'Sequences like "abc" or "6543" are easy to guess.': "“abc”“6543”这样的顺序很容易被猜到。",
    'Repeats like "aaa" are easy to guess.': "“aaa”这样的重复很容易被猜到。",
    "Straight rows of keys are easy to guess.": "键盘上连成一排的键很容易被猜到。",
    "Short keyboard patterns are easy to guess.": "简短的键盘图案很容易被猜到。",
    "Recent years are easy to guess.": "近年的年份很容易被猜到。",
    "Dates are often easy to guess.": "日期通常很容易被猜到。",
}


def _is_username_char(ch: str) -> bool:
    return ch in USERNAME_PUNCTUATION or unicodedata.category(ch) in (
        "Lu",
        "Ll",
        "Lt",
        "Lm",
        "Lo",
        "Mn",
        "Mc",
        "Me",
        "Nd",
    )


def check_username(username: str) -> str:
    """The username as stored (outer spaces dropped, Unicode NFC, so one name typed on two
    keyboards is one name), or BadUsername saying what is wrong."""
    name = unicodedata.normalize("NFC", username.strip())
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise BadUsername(
            f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters, this one has {len(name)}",
            zh=f"用户名需要 {USERNAME_MIN} 到 {USERNAME_MAX} 个字符，现在是 {len(name)} 个",
        )
    wrong = sorted({ch for ch in name if not _is_username_char(ch)})
    if wrong:
        shown = " ".join(repr(ch) for ch in wrong[:5])
        raise BadUsername(
            "a username may hold letters (any script), digits and _ . @ - only, not " + shown,
            zh="用户名只能包含文字（任何语言）、数字和 _ . @ -，不能有 " + shown,
        )
    return name


def check_password(password: str, *, username: str = "", names: Iterable[str] = ()) -> None:
    """Raise WeakPassword (too short, the username) or GuessablePassword (zxcvbn's score below
    MIN_PASSWORD_SCORE), each with a reason a person can act on in both languages."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
            zh=f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符",
        )
    if username and password.strip().lower() == username.strip().lower():
        raise WeakPassword("the password must differ from the username", zh="密码不能与用户名相同")
    own = [n for n in (username, *names) if n]
    result = zxcvbn(password[:SCORED_PREFIX], user_inputs=[*own, *SITE_WORDS])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return
    warning = str(result["feedback"].get("warning") or "")
    en = "this password is too easy to guess"
    zh = "这个密码太容易被猜到"
    if warning:
        en += f" ({warning.rstrip('.')})"
        if warning in _WARNINGS_ZH:
            zh += f"（{_WARNINGS_ZH[warning].rstrip('。')}）"
    raise GuessablePassword(
        en + ": use three or four unrelated words, or a longer phrase, and no name, year or "
        "word of this site",
        zh=zh + "：请用三四个互不相关的词或更长的短语，不要用姓名、年份或本系统的词",
    )
