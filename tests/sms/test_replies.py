"""The reply parser on every form issue 3 lists, on codes, receipts and on junk."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.sms.replies import (
    INTENTS,
    Reply,
    interpret,
    is_code,
    new_code,
    parse_reply,
    reply_of,
)


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "Y",
        "y",
        "YES",
        "yes",
        "Yes",
        "是",
        "好",
        "接受",
        "１",
        "ＹＥＳ",
        " 1 ",
        "1。",
        "“是”",
        "好！",
        "Y.",
        "ok",
    ],
)
def test_accept_forms(text: str) -> None:
    assert parse_reply(text).intent == "accept"


@pytest.mark.parametrize(
    "text", ["2", "N", "n", "NO", "no", "否", "不", "拒绝", "２", "ｎｏ", "不。", "No!", "  拒绝  "]
)
def test_decline_forms(text: str) -> None:
    assert parse_reply(text).intent == "decline"


def test_n_is_decline_not_opt_out() -> None:
    # ECOSYSTEM lists N among Chinese opt-out words; our offers say "2/N to decline"
    assert parse_reply("N").intent == "decline"


@pytest.mark.parametrize("text", ["完成", "DONE", "done", "Done.", "ＤＯＮＥ", "已完成"])
def test_done_forms(text: str) -> None:
    assert parse_reply(text).intent == "done"


@pytest.mark.parametrize(
    "text",
    [
        "退订",
        "STOP",
        "stop",
        "TD",
        "td",
        "UNSUBSCRIBE",
        "END",
        "QUIT",
        "CANCEL",
        "T",
        "ＳＴＯＰ",
        "Stop.",
        "【退订】",
        "我要退订",
        "1 TD",
    ],
)
def test_opt_out_forms(text: str) -> None:
    assert parse_reply(text).intent == "stop"


@pytest.mark.parametrize("word", ["STOPPED", "TOP", "TEND", "TDX", "STOPS", "please stop now"])
def test_opt_out_words_are_whole_words(word: str) -> None:
    assert parse_reply(word).intent == "unknown"


@pytest.mark.parametrize(
    ("text", "intent", "code"),
    [
        ("A7K 1", "accept", "A7K"),
        ("1 A7K", "accept", "A7K"),
        ("接受A7K", "accept", "A7K"),
        ("A7K接受", "accept", "A7K"),
        ("a7k y", "accept", "A7K"),
        ("Ａ７Ｋ　２", "decline", "A7K"),
        ("A7K,2", "decline", "A7K"),
        ("拒绝 C3M", "decline", "C3M"),
        ("完成 C3M", "done", "C3M"),
        ("A7K", "unknown", "A7K"),
    ],
)
def test_codes_before_or_after(text: str, intent: str, code: str) -> None:
    assert parse_reply(text) == Reply(intent, code, text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "3",
        "12",
        "hello",
        "1 2",
        "是 不",
        "A7K C3M 1",
        "我明天有空",
        "?",
        "😀",
        "Да",
        "1_",
        "收到",
        "Y N",
        "\x00",
        "YES PLEASE",
    ],
)
def test_everything_else_is_unknown(text: str) -> None:
    assert parse_reply(text).intent == "unknown"


@pytest.mark.parametrize(
    "text",
    [
        "接受任务",
        "接受",
        "收到，去",
        "收到,去",
        "收到 去",
        "收到，去。",
        "收到去！",
        "收到　去",  # ideographic space
        "【接受任务】",
        "接受任务。",
        "好，我去",
        "可以去",
    ],
)
def test_natural_chinese_yeses(text: str) -> None:
    assert parse_reply(text) == Reply("accept", None, text)


@pytest.mark.parametrize(
    "text", ["不去了", "来不了", "去不了", "不去了！", "来不了。", "来 不了", "我不去了", "没空"]
)
def test_natural_chinese_noes(text: str) -> None:
    assert parse_reply(text) == Reply("decline", None, text)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("接受 K4F", "accept"),
        ("接受K4F", "accept"),
        ("K4F 接受任务", "accept"),
        ("接受任务，K4F", "accept"),
        ("收到，去 K4F", "accept"),
        ("ｋ４ｆ　收到，去", "accept"),
        ("不去了 K4F", "decline"),
        ("K4F：来不了", "decline"),
    ],
)
def test_natural_replies_with_an_offer_code(text: str, intent: str) -> None:
    assert parse_reply(text) == Reply(intent, "K4F", text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "不知道去不去",  # they do not know yet: neither yes nor no
        "去不去",
        "收到",  # the text arrived; that is not a yes
        "收到，谢谢",
        "我去",  # as often "wow" as "I'll go"
        "接受任务 不去了",  # both
        "收到，去 K4F A7K",  # two offers: which one?
        "接受任务吗",
        "看情况",
        "不去了吧",
    ],
)
def test_natural_replies_in_doubt_are_unknown(text: str) -> None:
    assert parse_reply(text).intent == "unknown"


@pytest.mark.parametrize(
    ("text", "code", "rest"),
    [
        ("收 S123 全", "S123", "全"),
        ("收S123全", "S123", "全"),
        ("收到 S123 全", "S123", "全"),
        ("ＲＣＶ s123 all", "S123", "ALL"),
        ("rcv 42 面 20 水 10", "42", "面 20 水 10"),
        ("收：S7，全", "S7", "全"),
    ],
)
def test_receipt(text: str, code: str, rest: str) -> None:
    reply = parse_reply(text)
    assert (reply.intent, reply.code, reply.rest) == ("receipt", code, rest)


def test_receipt_needs_a_reference() -> None:
    assert parse_reply("收").intent == "unknown"
    assert parse_reply("收到，谢谢").intent == "unknown"


def test_generated_codes_are_recognised() -> None:
    for _ in range(200):
        code = new_code()
        assert is_code(code)
        assert parse_reply(f"{code} 1") == Reply("accept", code, f"{code} 1")
        assert parse_reply(f"1 {code.lower()}").code == code


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    # `interpret`, not `parse_reply`: the latter turns any exception into "unknown", so a
    # property test against it could never fail
    reply = interpret(text)
    assert reply.intent in INTENTS
    assert reply.text == text
    assert parse_reply(text) == reply


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("12YN是否收退订A7K ，。!?")), max_size=12))
def test_never_raises_on_near_misses(text: str) -> None:
    reply = interpret(text)
    # `退` alone gives a rota shift back (issue 15); `退订` is still the opt-out
    assert reply.intent in {"accept", "decline", "done", "stop", "receipt", "give_back", "unknown"}
    # beside a yes or no, a code is only ever an offer code (a receipt names a shipment)
    if reply.intent != "receipt":
        assert reply.code is None or is_code(reply.code)


def test_an_event_carries_the_reading_made_when_the_text_arrived() -> None:
    from events.payloads.sms import SmsReceived

    event = SmsReceived(
        message_id=1,
        phone="+8613800000000",
        body="收 S12 全",
        intent="receipt",
        code="S12",
        rest="全",
    )
    assert reply_of(event) == Reply("receipt", "S12", "收 S12 全", "全")
    # the reading is what the consumers act on, not a second parse of the body
    odd = SmsReceived(message_id=2, phone="+8613800000000", body="1", intent="decline")
    assert reply_of(odd).intent == "decline"


@pytest.mark.parametrize("intent", [None, "maybe"])
def test_a_version_one_event_or_an_unknown_intent_is_read_from_its_body(intent) -> None:
    from events.payloads.sms import SmsReceived

    event = SmsReceived(message_id=1, phone="+8613800000000", body="A7K 2", intent=intent)
    assert reply_of(event) == parse_reply("A7K 2")
    assert reply_of(event).intent == "decline"
