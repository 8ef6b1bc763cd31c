"""The CAP parser on real-world files, on hostile and broken XML, and the mapping of events,
colours and areas onto kinds, levels and Guiyang's districts."""

from __future__ import annotations

import codecs
import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from coordinator.alerts import cap
from coordinator.geo.outlines import guiyang
from tests.conftest import SHARED_CAP

REAL = SHARED_CAP
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="the shared real-world CAP files are not on this machine"
)

GUIYANG = [
    cap.DistrictRef("520102", "南明区", "Nanming District", 26.568, 106.714),
    cap.DistrictRef("520103", "云岩区", "Yunyan District", 26.605, 106.724),
    cap.DistrictRef("520111", "花溪区", "Huaxi District", 26.41, 106.67),
    cap.DistrictRef("520112", "乌当区", "Wudang District", 26.63, 106.752),
    cap.DistrictRef("520113", "白云区", "Baiyun District", 26.678, 106.623),
    cap.DistrictRef("520181", "清镇市", "Qingzhen City", 26.556, 106.47),
]
SENT = datetime(2014, 1, 5, 6, 0, tzinfo=UTC)
OUTLINES = guiyang()


def _real(name: str) -> bytes:
    return (REAL / name).read_bytes()


@needs_real
def test_china_cpeas_update_bilingual():
    (m,) = cap.parse(_real("cn_cma_baoding_lightning_yellow_2024-07-12.xml"))
    assert (m.sender, m.identifier) == (
        "Baoding_Meteorological_Observatory",
        "13060041600000_20240712213138",
    )
    assert m.sent.utcoffset() is not None and m.msg_type == "Update"
    assert m.references[0][1] == "13060041600000_20240712073642"
    assert m.headline.startswith("保定市气象台")  # the Chinese info wins
    assert (m.kind, m.level) == ("other", "yellow")  # 雷电 is not a winter hazard
    assert cap.districts_of(m, GUIYANG, outlines=OUTLINES) == []
    baoding = [cap.DistrictRef("130602", "竞秀区", "Jingxiu District", 38.87, 115.46)]
    assert cap.districts_of(m, baoding, outlines=OUTLINES) == ["130602"]


@needs_real
def test_canada_signed_update_with_long_references_and_polygons():
    (m,) = cap.parse(_real("ca_eccc_snowfall_warning_2013-01-24_signed.xml"))
    assert m.signed and m.msg_type == "Update" and len(m.references) == 9
    assert all(ref[2] is not None for ref in m.references)
    assert m.kind == "snow" and m.level == "yellow"
    assert any(area.polygons for info in m.infos for area in info.areas)
    assert cap.districts_of(m, GUIYANG, outlines=OUTLINES) == []


@needs_real
def test_swedish_alerts_wrapper_holds_many_alerts():
    messages = cap.parse(_real("se_smhi_heavy_snow_2019-03-12_multi-alert-wrapper.xml"))
    assert len(messages) == 17
    assert len({m.identifier for m in messages}) == 17


@needs_real
def test_us_cap_1_1_with_empty_polygon():
    (m,) = cap.parse(_real("us_nws_winter_storm_warning_2017-03-03_cap11.xml"))
    assert m.namespace.endswith("cap:1.1")
    assert m.kind == "snow" and m.level == "yellow"
    assert all(not area.polygons for info in m.infos for area in info.areas)


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol2;</alert>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>',
    "external DTD": b'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://evil.example/a.dtd">'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
    "broken": b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</alert>',
    "not xml": b'{"kind": "ice_storm"}',
    "empty": b"   ",
    "rss": b"<rss><channel><title>news</title></channel></rss>",
    "no namespace": b"<alert><identifier>x</identifier></alert>",
    "wrong namespace": b'<alert xmlns="urn:example:cap"><identifier>x</identifier></alert>',
    "missing fields": b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    b"<identifier>x</identifier></alert>",
    "empty wrapper": b'<alerts xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
    "bad encoding": b'<?xml version="1.0" encoding="UTF-8"?><alert>\xff\xfe</alert>',
    # a bomb is still a bomb once decoded from GBK
    "billion laughs in GBK": '<?xml version="1.0" encoding="GBK"?><!DOCTYPE 警报 ['
    '<!ENTITY 笑 "哈哈"><!ENTITY 笑2 "&笑;&笑;&笑;&笑;&笑;&笑;&笑;&笑;">]>'
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&笑2;</alert>'.encode("gbk"),
    "external entity in GB2312": '<?xml version="1.0" encoding="GB2312"?><!DOCTYPE a '
    '[<!ENTITY x SYSTEM "file:///etc/passwd">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    "<identifier>&x;</identifier><headline>道路结冰</headline></alert>".encode("gb2312"),
    "not GBK": b'<?xml version="1.0" encoding="GBK"?><alert xmlns="urn:oasis:names:tc:'
    b'emergency:cap:1.2"><identifier>\xff\xfe\x80</identifier></alert>',
    "unknown encoding": b'<?xml version="1.0" encoding="x-nuanliu-7"?>'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
    "no encoding name": b'<?xml version="1.0" encoding="&#x47;BK"?><alert/>',
    "multi-byte expat cannot read": '<?xml version="1.0" encoding="Big5"?><alert>中</alert>'.encode(
        "big5"
    ),
    "mark and declaration disagree": '<?xml version="1.0" encoding="GB2312"?><alert/>'.encode(
        "utf-16"
    ),
    "UTF-16 declared, 8-bit written": b"<?xml version='1.0' encoding='UTF-16'?><alert/>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_broken_and_non_cap_xml_is_refused_with_a_reason(name):
    with pytest.raises(cap.CapError) as info:
        cap.parse(HOSTILE[name])
    assert str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("billion laughs in GBK", "unsafe"),
        ("external entity in GB2312", "unsafe"),
        ("not GBK", "not valid GBK: byte 0xff"),
        ("unknown encoding", "unknown encoding 'x-nuanliu-7'"),
        ("no encoding name", "names no encoding"),
        ("multi-byte expat cannot read", "encoding is not supported"),
        ("mark and declaration disagree", "byte-order mark says UTF-16"),
        ("UTF-16 declared, 8-bit written", "8-bit"),
    ],
)
def test_encoding_refusals_say_what_is_wrong(name, needle):
    with pytest.raises(cap.CapError, match=needle):
        cap.parse(HOSTILE[name])


#: the real CMA message, moved from Baoding to Yunyan so that it concerns us
def _cma_in_yunyan() -> str:
    xml = _real("cn_cma_baoding_lightning_yellow_2024-07-12.xml").decode("utf-8")
    return xml.replace("130602000000", "520103000000")


def _summary(m: cap.CapMessage) -> tuple:
    return (m.identifier, m.sender, m.sent, m.headline, m.kind, m.level, m.references)


@needs_real
@pytest.mark.parametrize(
    ("declared", "codec"),
    [("GB2312", "gb2312"), ("GBK", "gbk"), ("gb18030", "gb18030"), ("CP936", "gbk")],
)
def test_a_chinese_encoded_real_cap_reads_like_its_utf8_form(declared, codec):
    utf8 = _cma_in_yunyan()
    assert 'encoding="UTF-8"' in utf8
    encoded = utf8.replace('encoding="UTF-8"', f'encoding="{declared}"').encode(codec)
    assert encoded != utf8.encode("utf-8")  # the Chinese text really is in the other encoding
    (want,) = cap.parse(utf8.encode("utf-8"))
    (got,) = cap.parse(encoded)
    assert _summary(got) == _summary(want)
    assert got.headline == "保定市气象台更新雷电黄色预警[Ⅲ级/较重]"
    assert (
        cap.districts_of(got, GUIYANG, outlines=OUTLINES)
        == cap.districts_of(want, GUIYANG, outlines=OUTLINES)
        == ["520103"]
    )
    assert 'encoding="UTF-8"' not in got.raw and "雷电" in got.raw


@needs_real
@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        lambda text: text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-be"),
        lambda text: codecs.BOM_UTF16_BE + text.replace('encoding="UTF-8"', "").encode("utf-16-be"),
    ],
    ids=["utf-8 mark", "utf-16 mark", "utf-16 big-endian, no mark", "utf-16 mark, no encoding"],
)
def test_byte_order_marks_read_like_utf8(encode):
    utf8 = _cma_in_yunyan()
    (want,) = cap.parse(utf8.encode("utf-8"))
    (got,) = cap.parse(encode(utf8))
    assert _summary(got) == _summary(want)
    assert cap.districts_of(got, GUIYANG, outlines=OUTLINES) == ["520103"]


def test_text_is_read_as_text_whatever_its_declaration_says():
    xml = _msg().decode().replace('encoding="UTF-8"', 'encoding="GB2312"')
    (m,) = cap.parse(xml)
    assert m.headline == "贵阳市气象台发布道路结冰橙色预警[Ⅱ级/严重]"


def test_a_declaration_in_single_quotes_and_a_chinese_body_in_gb18030():
    xml = _msg().decode().replace('<?xml version="1.0" encoding="UTF-8"?>', "")
    body = ("<?xml version='1.0' encoding='gb18030' standalone='yes'?>" + xml).encode("gb18030")
    (m,) = cap.parse(body)
    assert m.kind == "ice_storm" and cap.districts_of(m, GUIYANG, outlines=OUTLINES) == ["520103"]


def _msg(**kw) -> bytes:
    defaults = dict(
        identifier="GZ-1",
        sender="gz@cma",
        sent=SENT,
        event="道路结冰",
        headline="贵阳市气象台发布道路结冰橙色预警[Ⅱ级/严重]",
        severity="Severe",
        districts=[("520103", "云岩区")],
    )
    defaults.update(kw)
    return cap.build(**defaults).encode()


@pytest.mark.parametrize(
    ("status", "sent"),
    [
        ("Test", "2014-01-05T06:00:00+08:00"),
        ("Actual", "2014-01-05T06:00:00"),
        ("Actual", "yesterday"),
    ],
)
def test_test_messages_and_times_without_offset_are_refused(status, sent):
    xml = _msg().decode().replace("<status>Actual</status>", f"<status>{status}</status>")
    xml = xml.replace(SENT.isoformat(), sent)
    with pytest.raises(cap.CapError):
        cap.parse(xml)


@pytest.mark.parametrize(
    ("event", "headline", "kind"),
    [
        ("道路结冰", "", "ice_storm"),
        ("低温凝冻", "", "ice_storm"),
        ("冻雨", "", "freezing_rain"),
        ("寒潮", "", "cold_wave"),
        ("暴雪", "", "snow"),
        ("Freezing Rain Advisory", "", "freezing_rain"),
        ("Winter Storm Warning", "", "snow"),
        ("Ice Storm Warning", "", "ice_storm"),
        ("雷电", "", "other"),
        ("预警", "贵阳市发布冻雨预警", "freezing_rain"),
    ],
)
def test_event_lookup(event, headline, kind):
    (m,) = cap.parse(_msg(event=event, headline=headline or event))
    assert m.kind == kind


@pytest.mark.parametrize(
    ("headline", "severity", "level"),
    [
        ("道路结冰红色预警", "Moderate", "red"),
        ("道路结冰橙色预警", "Unknown", "orange"),
        ("寒潮蓝色预警[Ⅳ级/一般]", "Unknown", "blue"),
        ("道路结冰预警[Ⅲ级/较重]", "Unknown", "yellow"),
        ("预警[Ⅱ级/严重]", "Unknown", "orange"),
        ("Lightning warning [Level III/Heavy]", "Unknown", "yellow"),
        ("road icing warning", "Extreme", "red"),
        ("road icing warning", "Severe", "orange"),
        ("road icing warning", "Minor", "blue"),
        ("road icing warning", "Unknown", "blue"),
    ],
)
def test_level_from_headline_colour_then_severity(headline, severity, level):
    (m,) = cap.parse(_msg(headline=headline, severity=severity))
    assert m.level == level


def _area(inner: str) -> bytes:
    xml = _msg(districts=[], headline="道路结冰橙色预警").decode()
    return xml.replace("</headline>", f"</headline><area>{inner}</area>").encode()


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        (
            "<areaDesc>x</areaDesc><geocode><valueName>CPEAS Geographic Code</valueName>"
            "<value>520103000000</value></geocode>",
            ["520103"],
        ),
        (
            "<areaDesc>贵阳市</areaDesc><geocode><valueName>CPEAS Geographic Code</valueName>"
            "<value>520100000000</value></geocode>",
            [d.code for d in GUIYANG],
        ),
        ("<areaDesc>贵阳市南明区、花溪区</areaDesc>", ["520102", "520111"]),
        ("<areaDesc>Yunyan District, Wudang</areaDesc>", ["520103", "520112"]),
        ("<areaDesc>广州市白云区</areaDesc>", []),
        ("<areaDesc>贵阳市白云区</areaDesc>", ["520113"]),
        (
            "<areaDesc>p</areaDesc><polygon>26.55,106.70 26.62,106.70 26.62,106.74 26.55,106.74 "
            "26.55,106.70</polygon>",
            ["520102", "520103"],
        ),
        ("<areaDesc>c</areaDesc><circle>26.41,106.67 3</circle>", ["520111"]),
        ("<areaDesc>empty</areaDesc><polygon/><polygon>1,2 x</polygon><circle>junk</circle>", []),
        (
            "<areaDesc>Beijing</areaDesc><geocode><valueName>CPEAS Geographic Code</valueName>"
            "<value>110101000000</value></geocode>",
            [],
        ),
    ],
)
def test_area_to_districts(area, expected):
    (m,) = cap.parse(_area(area))
    assert sorted(cap.districts_of(m, GUIYANG, outlines=OUTLINES)) == sorted(expected)


@hyp_settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_any_junk_is_a_cap_error_never_a_crash(junk):
    with contextlib.suppress(cap.CapError):  # anything else fails the test
        cap.parse(junk)


@hyp_settings(max_examples=100, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=40))
def test_any_field_text_in_a_cap_shell_is_handled(event, headline, polygon):
    from xml.sax.saxutils import escape

    xml = (
        _msg(event=event, headline=headline)
        .decode()
        .replace(
            "</headline>",
            f"</headline><area><areaDesc>x</areaDesc><polygon>{escape(polygon)}</polygon></area>",
        )
    )
    try:
        (m,) = cap.parse(xml)
    except cap.CapError:
        return  # e.g. characters XML cannot carry
    assert m.kind in ("ice_storm", "freezing_rain", "snow", "cold_wave", "travel_rush", "other")
    assert m.level in ("blue", "yellow", "orange", "red")
    cap.districts_of(m, GUIYANG, outlines=OUTLINES)
