"""The CAP parser: OASIS Common Alerting Protocol 1.2 (and 1.1/1.0) messages into plain data,
and the mapping of a message onto Nuanliu's alert kind, warning level and districts.

Parsing is safe by construction: defusedxml with DTDs, entity declarations and external
references all forbidden (so no billion laughs, no XXE), and the caller limits the size. Expat
reads no multi-byte encoding but UTF-8 and UTF-16, and Chinese feeds send GB2312/GBK/GB18030:
:func:`to_utf8` decodes those bytes first (as GB18030, the superset of the other two) and
rewrites the declaration, so the same safe parser sees the same document in UTF-8. Real
feeds vary, so the parser accepts the CAP 1.1 and 1.0 namespaces, the non-standard `<alerts>`
wrapper around several messages, enveloped XML signatures (ignored: not verified), empty
`<polygon/>` and long `references` chains. It raises :class:`CapError` with a one-line reason
for anything that is not a CAP alert.

No library is used for CAP itself (see ECOSYSTEM.md: the ones on PyPI are abandoned or pinned to
old lxml); the format is small.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError, tostring
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from shapely.geometry.base import BaseGeometry

from coordinator.alerts.cap_encoding import redeclared, to_utf8
from coordinator.alerts.errors import CapError
from coordinator.geo import shapes
from coordinator.geo.outlines import Outlines
from coordinator.geo.service import haversine_km

CAP_NAMESPACES = (
    "urn:oasis:names:tc:emergency:cap:1.2",
    "urn:oasis:names:tc:emergency:cap:1.1",
    "urn:oasis:names:tc:emergency:cap:1.0",
)
REQUIRED = ("identifier", "sender", "sent", "status", "msgType")
#: CAP status values Nuanliu acts on; Test, System and Draft messages are refused
ACTED_ON_STATUS = ("Actual", "Exercise")
ACTED_ON_TYPES = ("Alert", "Update", "Cancel")


@dataclass(frozen=True)
class CapArea:
    desc: str = ""
    #: each polygon a closed ring of (lat, lon)
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    #: (lat, lon, radius_km)
    circles: tuple[tuple[float, float, float], ...] = ()
    #: (valueName, value)
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CapInfo:
    language: str = "en-US"
    event: str = ""
    urgency: str = ""
    severity: str = ""
    certainty: str = ""
    headline: str = ""
    event_codes: tuple[str, ...] = ()
    onset: datetime | None = None
    effective: datetime | None = None
    expires: datetime | None = None
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: tuple[tuple[str, str, datetime | None], ...] = ()
    infos: tuple[CapInfo, ...] = ()
    namespace: str = CAP_NAMESPACES[0]
    signed: bool = False
    raw: str = field(default="", repr=False)

    @property
    def headline(self) -> str:
        """The Chinese headline when there is one (our dispatchers read Chinese), else the
        first, else the event."""
        for info in sorted(self.infos, key=lambda i: not i.language.lower().startswith("zh")):
            if info.headline:
                return info.headline
        for info in self.infos:
            if info.event:
                return info.event
        return self.identifier

    @property
    def kind(self) -> str:
        return kind_of(self.infos)

    @property
    def level(self) -> str:
        return level_of(self.infos)

    @property
    def event(self) -> str:
        return next((i.event for i in self.infos if i.event), "")

    @property
    def onset(self) -> datetime | None:
        return next((i.onset or i.effective for i in self.infos if i.onset or i.effective), None)

    @property
    def expires(self) -> datetime | None:
        return next((i.expires for i in self.infos if i.expires), None)


# -- parsing -----------------------------------------------------------------------------------
def parse(data: bytes | str) -> list[CapMessage]:
    """Every CAP alert in `data` (one `<alert>`, or several inside `<alerts>`). Raises CapError
    for XML that is broken, hostile (DTD, entities, external references), in an encoding we
    cannot read, or not CAP."""
    if not data.strip():
        raise CapError("the body is empty")
    # text is decoded already, whatever its declaration says; bytes are decoded by it
    data = redeclared(data) if isinstance(data, str) else to_utf8(data)
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError(f"refused unsafe XML: {type(exc).__name__}") from None
    except ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from None
    except LookupError as exc:  # an encoding name expat passed on to Python's codecs
        raise CapError(f"unknown encoding: {exc}") from None
    except ValueError as exc:
        if "multi-byte" in str(exc):
            raise CapError(
                "its encoding is not supported: send UTF-8, UTF-16 or GB18030 (GBK, GB2312)"
            ) from None
        raise CapError(f"not readable XML: {exc}") from None
    _ns, local = _split(root.tag)
    if local == "alert":
        alerts = [root]
    elif local == "alerts":
        alerts = [child for child in root if _split(child.tag)[1] == "alert"]
        if not alerts:
            raise CapError("an <alerts> wrapper with no <alert> inside")
    else:
        raise CapError(f"the root element is <{local}>, not a CAP <alert>")
    return [_message(el) for el in alerts]


def _split(tag: Any) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _children(el: Element, name: str) -> list[Element]:
    return [c for c in el if _split(c.tag)[1] == name]


def _text(el: Element, name: str) -> str:
    found = _children(el, name)
    return (found[0].text or "").strip() if found else ""


def parse_time(value: str, what: str) -> datetime:
    """A CAP dateTime; it must carry an offset (CAP requires one)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CapError(f"<{what}> is not a date and time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise CapError(f"<{what}> has no UTC offset: {value[:40]!r}")
    return parsed


def _optional_time(el: Element, name: str) -> datetime | None:
    value = _text(el, name)
    if not value:
        return None
    try:
        return parse_time(value, name)
    except CapError:
        return None  # a bad optional time costs the time, not the alert


def _message(el: Element) -> CapMessage:
    ns, _ = _split(el.tag)
    if ns not in CAP_NAMESPACES:
        raise CapError(f"<alert> in namespace {ns or '(none)'!r}, not CAP 1.2/1.1/1.0")
    missing = [name for name in REQUIRED if not _text(el, name)]
    if missing:
        raise CapError(f"a CAP alert without <{'>, <'.join(missing)}>")
    status, msg_type = _text(el, "status"), _text(el, "msgType")
    if status not in ACTED_ON_STATUS:
        raise CapError(f"status {status!r} is not acted on (only {', '.join(ACTED_ON_STATUS)})")
    if msg_type not in ACTED_ON_TYPES:
        raise CapError(f"msgType {msg_type!r} is not acted on")
    return CapMessage(
        identifier=_text(el, "identifier")[:255],
        sender=_text(el, "sender")[:255],
        sent=parse_time(_text(el, "sent"), "sent"),
        status=status,
        msg_type=msg_type,
        references=tuple(parse_references(_text(el, "references"))),
        infos=tuple(_info(i) for i in _children(el, "info")),
        namespace=ns,
        signed=any(_split(c.tag)[1] == "Signature" for c in el),
        raw=tostring(el, encoding="unicode"),
    )


def parse_references(text: str) -> list[tuple[str, str, datetime | None]]:
    """CAP `references`: space-separated `sender,identifier,sent` triples."""
    out: list[tuple[str, str, datetime | None]] = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) < 2:
            continue
        sent: datetime | None = None
        if len(parts) >= 3:
            try:
                sent = parse_time(parts[2], "references")
            except CapError:
                sent = None
        out.append((parts[0], parts[1], sent))
    return out


def _floats(text: str) -> list[float]:
    return [float(x) for x in re.split(r"[,\s]+", text.strip()) if x]


def _area(el: Element) -> CapArea:
    polygons = []
    for p in _children(el, "polygon"):
        try:
            values = _floats(p.text or "")
        except ValueError:
            continue
        points = tuple(zip(values[::2], values[1::2], strict=False))
        if len(points) >= 3 and all(_valid(lat, lon) for lat, lon in points):
            polygons.append(points)
    circles = []
    for c in _children(el, "circle"):
        try:
            lat, lon, radius = _floats(c.text or "")[:3]
        except ValueError:
            continue
        if _valid(lat, lon) and math.isfinite(radius) and radius >= 0:
            circles.append((lat, lon, radius))
    geocodes = tuple((_text(g, "valueName"), _text(g, "value")) for g in _children(el, "geocode"))
    return CapArea(_text(el, "areaDesc"), tuple(polygons), tuple(circles), geocodes)


def _valid(lat: float, lon: float) -> bool:
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def _info(el: Element) -> CapInfo:
    return CapInfo(
        language=_text(el, "language") or "en-US",
        event=_text(el, "event")[:120],
        urgency=_text(el, "urgency"),
        severity=_text(el, "severity"),
        certainty=_text(el, "certainty"),
        headline=_text(el, "headline")[:300],
        event_codes=tuple(_text(c, "value") for c in _children(el, "eventCode")),
        onset=_optional_time(el, "onset"),
        effective=_optional_time(el, "effective"),
        expires=_optional_time(el, "expires"),
        areas=tuple(_area(a) for a in _children(el, "area")),
    )


# -- kind and level ----------------------------------------------------------------------------
#: Event words → alert kind, first match wins (so "freezing rain" beats "rain", road icing
#: beats snow). An open table: CAP `event` is free text, and 冻雨 has no national signal.
KIND_TABLE: list[tuple[str, str]] = [
    ("道路结冰", "ice_storm"),
    ("电线积冰", "ice_storm"),
    ("低温凝冻", "ice_storm"),
    ("凝冻", "ice_storm"),
    ("结冰", "ice_storm"),
    ("冰冻", "ice_storm"),
    ("ice storm", "ice_storm"),
    ("road icing", "ice_storm"),
    ("icing", "ice_storm"),
    ("冻雨", "freezing_rain"),
    ("freezing rain", "freezing_rain"),
    ("freezing drizzle", "freezing_rain"),
    ("暴雪", "snow"),
    ("大雪", "snow"),
    ("降雪", "snow"),
    ("winter storm", "snow"),
    ("blizzard", "snow"),
    ("snowfall", "snow"),
    ("snow", "snow"),
    ("寒潮", "cold_wave"),
    ("低温", "cold_wave"),
    ("cold wave", "cold_wave"),
    ("extreme cold", "cold_wave"),
    ("wind chill", "cold_wave"),
    ("春运", "travel_rush"),
    ("travel rush", "travel_rush"),
]

LEVEL_BY_SEVERITY = {"Extreme": "red", "Severe": "orange", "Moderate": "yellow", "Minor": "blue"}
_COLOUR_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"红色|Ⅰ级|\bLevel\s+I\b|\bred\b", re.I), "red"),
    (re.compile(r"橙色|Ⅱ级|\bLevel\s+II\b|\borange\b", re.I), "orange"),
    (re.compile(r"黄色|Ⅲ级|\bLevel\s+III\b|\byellow\b", re.I), "yellow"),
    (re.compile(r"蓝色|Ⅳ级|\bLevel\s+IV\b|\bblue\b", re.I), "blue"),
]


def kind_of(infos: Sequence[CapInfo]) -> str:
    """The alert kind from the events (then event codes, then headlines); "other" if none."""
    texts = [i.event for i in infos]
    texts += [c for i in infos for c in i.event_codes]
    texts += [i.headline for i in infos]
    for text in texts:
        low = text.lower()
        for needle, kind in KIND_TABLE:
            if needle in low:
                return kind
    return "other"


def level_of(infos: Sequence[CapInfo]) -> str:
    """The warning colour: named in a headline (红色/橙色/黄色/蓝色, Ⅰ-Ⅳ级, English colour or
    "Level I-IV"), else from the CAP severity; Unknown severity counts as blue."""
    for info in infos:
        for pattern, level in _COLOUR_PATTERNS:
            if pattern.search(info.headline):
                return level
    for info in infos:
        if info.severity in LEVEL_BY_SEVERITY:
            return LEVEL_BY_SEVERITY[info.severity]
    return "blue"


# -- districts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistrictRef:
    code: str
    name_zh: str
    name_en: str
    lat: float
    lon: float


#: district names that also exist elsewhere in China (广州白云区): matched by name only when
#: the area also says Guiyang
AMBIGUOUS_NAMES = {"520113"}
_GEOCODE_NAMES = ("cpeas", "gb/t 2260", "gb2260", "gbt2260", "adcode", "行政区划")


def _point_in_polygon(lat: float, lon: float, ring: Sequence[tuple[float, float]]) -> bool:
    inside = False
    n = len(ring)
    for i in range(n):
        y1, x1 = ring[i]
        y2, x2 = ring[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def _by_code(code: str, districts: Sequence[DistrictRef]) -> list[str]:
    """A 6-digit division code → our districts: the district itself, or every district of a
    city (5201xx for 520100) or province (52xxxx for 520000)."""
    if code.endswith("0000"):
        return [d.code for d in districts if d.code.startswith(code[:2])]
    if code.endswith("00"):
        exact = [d.code for d in districts if d.code == code]
        return exact or [d.code for d in districts if d.code.startswith(code[:4])]
    return [d.code for d in districts if d.code == code]


def _by_name(text: str, context: str, districts: Sequence[DistrictRef]) -> list[str]:
    found = []
    guiyang = "贵阳" in context or "guiyang" in context.lower()
    low = text.lower()
    for d in districts:
        if d.code in AMBIGUOUS_NAMES and not guiyang:
            continue
        short_zh = d.name_zh[:-1] if len(d.name_zh) > 2 and d.name_zh[-1] in "区县市" else d.name_zh
        short_en = re.sub(r"\s+(district|county|city)$", "", d.name_en, flags=re.I).lower()
        if short_zh in text or re.search(rf"\b{re.escape(short_en)}\b", low):
            found.append(d.code)
    return found


#: How a CAP polygon or circle selects a district that has an outline (see coordinator/geo):
#: by the part of the district it covers, measured in km on the real outlines. The part counts
#: when it holds at least MIN_SHARE_OF_AREA of the CAP area itself (so a small area inside one
#: district selects it, however small), or when it is at least MIN_SHARE_OF_DISTRICT of the
#: district or MIN_PART_KM2 and wider than SLIVER_KM somewhere. The last condition ignores the
#: strips a polygon drawn along a border from another map leaves in the neighbour: the
#: outlines are simplified to about 100 m, and feeds draw their own borders. A circle that
#: reaches a few hundred metres over a border selects nothing across it.
MIN_SHARE_OF_AREA = 0.2
MIN_SHARE_OF_DISTRICT = 0.01
MIN_PART_KM2 = 2.0
SLIVER_KM = 0.5
#: a CAP circle smaller than this (1 m) is its centre point
MIN_RADIUS_KM = 0.001


def _covered(shape: BaseGeometry, codes: list[str], outlines: Outlines) -> list[str]:
    return [
        o.code
        for o in outlines.overlaps(shape, codes=codes)
        if o.of_area >= MIN_SHARE_OF_AREA
        or (
            (o.of_district >= MIN_SHARE_OF_DISTRICT or o.km2 >= MIN_PART_KM2)
            and o.wider_than(SLIVER_KM)
        )
    ]


def districts_of(
    message: CapMessage, districts: Sequence[DistrictRef], *, outlines: Outlines
) -> list[str]:
    """Our districts that the message's areas touch: division geocodes (CPEAS 12-digit or
    GB/T 2260 6-digit); district names in `areaDesc` (only for areas without such geocodes);
    polygons and circles that cover a meaningful part of a district's outline (the rule is
    above), or, for a district without an outline in `outlines`, contain its centre."""
    out: list[str] = []

    def add(codes: Iterable[str]) -> None:
        for code in codes:
            if code not in out:
                out.append(code)

    outlined = [d.code for d in districts if d.code in outlines]
    centred = [d for d in districts if d.code not in outlines]
    context = " ".join(i.headline for i in message.infos)
    for info in message.infos:
        for area in info.areas:
            coded = False
            for name, value in area.geocodes:
                digits = value.strip()
                if not digits.isdigit() or len(digits) not in (6, 12):
                    continue
                if any(key in name.lower() for key in _GEOCODE_NAMES):
                    coded = True
                    add(_by_code(digits[:6], districts))
            if not coded and area.desc:
                add(_by_name(area.desc, f"{context} {area.desc}", districts))
            for ring in area.polygons:
                polygon = shapes.polygon(ring)
                if polygon is not None and outlined:
                    add(_covered(polygon, outlined, outlines))
                add(d.code for d in centred if _point_in_polygon(d.lat, d.lon, ring))
            for lat, lon, radius in area.circles:
                if outlined and radius >= MIN_RADIUS_KM:
                    add(_covered(shapes.circle(lat, lon, radius), outlined, outlines))
                elif outlined:  # a point
                    add(c for c in outlines.containing(lon, lat) if c in outlined)
                add(d.code for d in centred if haversine_km(lat, lon, d.lat, d.lon) <= radius)
    return out


# -- building (for the simulator and tests) ----------------------------------------------------
def build(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    event: str,
    headline: str,
    severity: str,
    districts: Sequence[tuple[str, str]],
    msg_type: str = "Alert",
    references: str = "",
    urgency: str = "Expected",
    onset: datetime | None = None,
    expires: datetime | None = None,
) -> str:
    """A CAP 1.2 message in the CPEAS style: one zh-CN `<info>`, one area per district with
    its 12-digit geocode. `districts` are (code, name) pairs."""
    areas = "".join(
        f"<area><areaDesc>{escape(name)}</areaDesc><geocode><valueName>CPEAS Geographic Code"
        f"</valueName><value>{code}000000</value></geocode></area>"
        for code, name in districts
    )
    refs = f"<references>{escape(references)}</references>" if references else ""
    times = "".join(
        f"<{tag}>{value.isoformat()}</{tag}>"
        for tag, value in (("onset", onset), ("expires", expires))
        if value is not None
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<alert xmlns="{CAP_NAMESPACES[0]}"><identifier>{escape(identifier)}</identifier>'
        f"<sender>{escape(sender)}</sender><sent>{sent.isoformat()}</sent>"
        f"<status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}"
        f"<info><language>zh-CN</language><category>Met</category><event>{escape(event)}</event>"
        f"<urgency>{urgency}</urgency><severity>{severity}</severity>"
        f"<certainty>Likely</certainty>{times}<headline>{escape(headline)}</headline>"
        f"{areas}</info></alert>"
    )
