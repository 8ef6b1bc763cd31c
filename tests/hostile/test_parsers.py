"""Every parser of outside input, fed by hypothesis: it answers or refuses with its own error
type, never with an unexpected exception."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from coordinator.alerts import cap
from coordinator.logistics.sms_receipts import parse_counts
from coordinator.sms.replies import Intent, is_code, parse_reply
from coordinator.volunteers import importer
from events.envelope import DecodeError, Envelope, decode, encode

#: text that reaches parsers in practice: any unicode, plus the characters that matter to them
TEXTS = st.one_of(
    st.text(max_size=300),
    st.text(
        alphabet="12YNyn是否不完成退订STOPTD收全面水晕S0123456789 ,，。:：\u200b\u3000", max_size=40
    ),
)
SQL = ["' OR 1=1 --", "'; DROP TABLE volunteers; --", '" OR ""="', "1; SELECT pg_sleep(10)"]
FORMULAS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", '=HYPERLINK("http://x","y")']

FAST = settings(max_examples=300, deadline=None)


# -- CAP ------------------------------------------------------------------------------------
CAP_PIECES = [
    "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>",
    "</alert>",
    "<alerts>",
    "</alerts>",
    "<identifier>x</identifier>",
    "<sender>s</sender>",
    "<sent>2014-01-05T06:00:00+08:00</sent>",
    "<sent>not a time</sent>",
    "<status>Actual</status>",
    "<msgType>Update</msgType>",
    "<references>a,b,2014-01-05T06:00:00+08:00 bad</references>",
    "<info><event>道路结冰</event><severity>Severe</severity>",
    "<headline>道路结冰橙色预警[Ⅱ级/严重]</headline>",
    "<area><areaDesc>云岩区</areaDesc><geocode><valueName>CPEAS Geographic Code</valueName>"
    "<value>520103000000</value></geocode><polygon>26.5,106.6 26.7,106.6 26.7,106.8</polygon>",
    "<polygon/>",
    "<circle>26.6,106.7 5</circle>",
    "</area></info>",
    "<![CDATA[<x>]]>",
    "&amp;",
    "&lt;",
    "<!-- c -->",
]


@FAST
@given(st.lists(st.sampled_from(CAP_PIECES) | st.text(max_size=20), max_size=25))
def test_cap_parse_only_raises_cap_error(pieces: list[str]) -> None:
    doc = "".join(pieces)
    for data in (doc, doc.encode("utf-8"), doc.encode("utf-16")):
        try:
            messages = cap.parse(data)
        except cap.CapError as exc:
            assert str(exc)
            continue
        for message in messages:
            cap.kind_of(message.infos)
            cap.level_of(message.infos)


@FAST
@given(st.binary(max_size=400))
def test_cap_parse_of_any_bytes(data: bytes) -> None:
    with pytest.raises(cap.CapError):
        cap.parse(data)


def test_cap_refuses_bombs_and_external_entities() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
            for i in range(10)
        )
        + "]><alert>&lol9;</alert>"
    )
    xxe = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert>&x;</alert>'
    remote_dtd = '<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><alert/>'
    for doc in (laughs, xxe, remote_dtd):
        with pytest.raises(cap.CapError, match=r"unsafe|DTD|not"):
            cap.parse(doc)


# -- SMS replies and receipts ---------------------------------------------------------------
@FAST
@given(TEXTS | st.sampled_from(SQL + FORMULAS))
def test_the_reply_parser_never_raises_and_answers_a_known_intent(text: str) -> None:
    reply = parse_reply(text)
    assert reply.intent in get_args(Intent)
    assert reply.code is None or reply.intent == "receipt" or is_code(reply.code)
    assert reply.text == text


#: separators people type between words, in both widths, and none at all
SEPARATORS = st.sampled_from(["", " ", "\u3000", ",", "，", "。", ".", "!", "！", "、", " ， "])
PHRASES = {
    "接受任务": ("接受", "任务"),
    "收到去": ("收到", "去"),
    "不去了": ("不去", "了"),
    "来不了": ("来", "不了"),
    "去不了": ("去", "不了"),
}


@FAST
@given(
    phrase=st.sampled_from(sorted(PHRASES)),
    seps=st.lists(SEPARATORS, min_size=3, max_size=3),
    code=st.none() | st.sampled_from(["K4F", "a7k", "Ｃ３Ｍ"]),
    code_first=st.booleans(),
)
def test_natural_replies_whatever_the_punctuation(phrase, seps, code, code_first) -> None:
    first, second = PHRASES[phrase]
    words = f"{seps[0]}{first}{seps[1]}{second}{seps[2]}"
    if code is not None:
        words = f"{code} {words}" if code_first else f"{words} {code}"
    reply = parse_reply(words)
    assert reply.intent == ("accept" if phrase in ("接受任务", "收到去") else "decline")
    assert reply.code == (None if code is None else {"K4F": "K4F", "a7k": "A7K"}.get(code, "C3M"))


@FAST
@given(TEXTS | st.text(alphabet="不没别去来了吗知道接受任务收到好是1Y ，。", max_size=12))
def test_a_negation_is_never_read_as_a_yes(text: str) -> None:
    # a missed yes costs one more offer; a false yes sends nobody to an icy road
    if any(word in text for word in ("不", "没", "别")):
        assert parse_reply(text).intent != "accept"


@FAST
@given(
    st.text(max_size=120)
    | st.sampled_from(SQL + FORMULAS + ["面 -5", "面 99999999999999999999", "水 1e9"])
)
def test_the_receipt_count_parser_answers_counts_or_a_question(rest: str) -> None:
    result = parse_counts(rest, names={"面": 1, "水": 2, "晕": 3})
    if isinstance(result, dict):
        assert set(result) <= {1, 2, 3}
        assert all(isinstance(v, int) and v >= 0 for v in result.values())
    else:
        assert isinstance(result, str) and result


# -- the roster importer ----------------------------------------------------------------------
CSV_CELLS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SQL + FORMULAS + ["+8613800138000", "13800138000", "云岩区", "de_icing", ""]),
)


@pytest.fixture
def roster_session(session: Session, demo: None) -> Session:
    return session


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(
        st.sampled_from(["name", "phone", "district", "skills", "lat", "lon", "x", ""]), max_size=7
    ),
    rows=st.lists(st.lists(CSV_CELLS, max_size=8), max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_the_csv_importer_reports_rows_or_refuses_the_file(
    roster_session, header, rows, encoding
) -> None:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        data = buf.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = buf.getvalue().encode("utf-8")
    _import(roster_session, data, "roster.csv")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600), xlsx=st.booleans())
def test_the_importer_on_any_bytes(roster_session, data: bytes, xlsx: bool) -> None:
    if xlsx:
        data = b"PK\x03\x04" + data
    _import(roster_session, data, "roster.xlsx" if xlsx else "roster.csv")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.lists(CSV_CELLS | st.integers() | st.floats(allow_nan=True) | st.none(), max_size=6),
        max_size=5,
    )
)
def test_the_xlsx_importer_on_generated_workbooks(roster_session, rows) -> None:
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    book = Workbook()
    sheet = book.active
    sheet.append(["name", "phone", "district", "skills", "lat", "lon"])
    for row in rows:
        try:
            sheet.append(row)
        except (ValueError, TypeError, IllegalCharacterError):  # openpyxl refuses these itself
            continue
    out = io.BytesIO()
    book.save(out)
    _import(roster_session, out.getvalue(), "roster.xlsx")


def _import(session: Session, data: bytes, filename: str) -> None:
    try:
        result = importer.import_volunteers(
            session=session, data=data, filename=filename, dry_run=True
        )
    except importer.ImportFileError as exc:
        assert str(exc)
        return
    finally:
        session.rollback()
    for error in result.errors:
        assert error.row >= 1 and error.message


# -- the event decoder ------------------------------------------------------------------------
HEADER_NAMES = st.sampled_from(
    [
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "content-type",
        "x",
    ]
)


@FAST
@given(
    key=st.none() | st.binary(max_size=20),
    value=st.none()
    | st.binary(max_size=200)
    | st.sampled_from([b"{}", b"[]", b'{"a": 1}', b"null"]),
    headers=st.lists(
        st.tuples(HEADER_NAMES | st.text(max_size=10), st.binary(max_size=40)), max_size=8
    ),
)
def test_the_event_decoder_only_raises_decode_error(key, value, headers) -> None:
    try:
        decode(key, value, headers, max_bytes=4096)
    except DecodeError as exc:
        assert str(exc)


@FAST
@given(
    field=st.sampled_from(
        ["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "content-type"]
    ),
    replacement=st.binary(max_size=40),
    body=st.none() | st.binary(max_size=60),
)
def test_a_valid_event_with_one_header_or_the_body_spoiled(field, replacement, body) -> None:
    env = Envelope(
        id="e1",
        type="nuanliu.alert.raised",
        source="/nuanliu",
        time=datetime(2014, 1, 5, tzinfo=UTC),
        data={"alert_id": 1},
        key="k",
    )
    key, value, headers = encode(env)
    headers = [(n, replacement if n == field else v) for n, v in headers]
    if body is not None:
        value = body
    try:
        decoded = decode(key, value, headers, max_bytes=4096)
    except DecodeError:
        return
    assert isinstance(decoded.data, dict)
    json.dumps(decoded.data)
