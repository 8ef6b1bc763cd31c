"""A CAP body's bytes as UTF-8 for the safe parser: expat reads only UTF-8, US-ASCII and
Latin-1 itself, so a feed in GB2312/GBK/GB18030 (as some Chinese feeds are) or UTF-16 is decoded
here by its declaration or byte-order mark, and its declaration rewritten to UTF-8. The parser's
limits (size, no DTD, no entities) apply to the result unchanged."""

from __future__ import annotations

import codecs
import re
from typing import Any

from coordinator.alerts.errors import CapError

#: encodings expat reads by itself; single-byte ones (windows-1252…) it reads through Python
_EXPAT_READS = {"utf8", "usascii", "ascii", "iso88591", "latin1"}
#: Chinese national encodings: read as GB18030, which contains GB2312 and GBK byte for byte
_GB18030 = {
    "gb2312",
    "gbk",
    "gb18030",
    "cp936",
    "ms936",
    "windows936",
    "euccn",
    "xeuccn",
    "csgb2312",
    "xgbk",
    "chinese",
}
_UTF16 = {"utf16", "utf16le", "utf16be"}
#: (byte-order mark, codec, name for people, the declared names that agree with it)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "UTF-8", _EXPAT_READS - {"iso88591", "latin1"}),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16", _UTF16),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16", _UTF16),
)
_WS = r"[ \t\r\n]"
#: the XML declaration up to its encoding (the value is checked against the EncName rule)
_DECLARATION = (
    rf"\A<\?xml{_WS}+version{_WS}*={_WS}*(?:\"[^\"]*\"|'[^']*'){_WS}+encoding{_WS}*={_WS}*"
    r"(?:\"(?P<dq>[^\"<>]{0,64})\"|'(?P<sq>[^'<>]{0,64})')"
)
_DECLARATION_BYTES = re.compile(_DECLARATION.encode())
_DECLARATION_TEXT = re.compile(_DECLARATION)
_ENCODING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


def _normalised(name: str) -> str:
    return re.sub(r"[-_.\s]", "", name).lower()


def _declared(match: re.Match[Any] | None) -> tuple[str, tuple[int, int]] | None:
    """The encoding named in a declaration match, and where it stands."""
    if match is None:
        return None
    group = "dq" if match.group("dq") is not None else "sq"
    value = match.group(group)
    name = value.decode("latin-1") if isinstance(value, bytes) else value
    if not _ENCODING_NAME.fullmatch(name):
        raise CapError(f"the XML declaration names no encoding: {name[:40]!r}")
    return name, match.span(group)


def redeclared(text: str) -> bytes:
    """`text` as UTF-8 bytes, its declaration (if it has one) saying so."""
    found = _declared(_DECLARATION_TEXT.match(text))
    if found is not None:
        _, (start, end) = found
        text = f"{text[:start]}UTF-8{text[end:]}"
    return text.encode("utf-8")


def _decoded(data: bytes, codec: str, declared: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise CapError(
            f"the body is not valid {declared}: byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start} cannot be read"
        ) from None


def to_utf8(data: bytes) -> bytes:
    """The document in an encoding expat reads: a byte-order mark (UTF-8, UTF-16) or a declared
    GB2312/GBK/GB18030 is decoded and re-declared as UTF-8; UTF-8, ASCII and single-byte
    encodings go through unchanged. Raises CapError for a name that is no encoding, bytes that
    are not in the declared encoding, or a declaration that contradicts the byte-order mark.

    The size limit stays with the caller and holds on the bytes received; the UTF-8 form of
    GB18030 text is at most 1.5 times as long."""
    for bom, codec, label, agrees in _BOMS:
        if data.startswith(bom):
            text = _decoded(data[len(bom) :], codec, label)
            found = _declared(_DECLARATION_TEXT.match(text))
            if found is not None and _normalised(found[0]) not in agrees:
                raise CapError(
                    f"the byte-order mark says {label} but the XML declaration says {found[0]!r}"
                )
            return redeclared(text)
    found = _declared(_DECLARATION_BYTES.match(data))
    if found is None:
        return data  # UTF-8 by the XML rules (or UTF-16 without a mark: expat tells)
    name = _normalised(found[0])
    if name in _GB18030:
        return redeclared(_decoded(data, "gb18030", found[0]))
    if name in _UTF16:
        raise CapError(f"declared {found[0]!r} but written in an 8-bit encoding")
    if name not in _EXPAT_READS:
        try:
            codecs.lookup(found[0])
        except LookupError:
            raise CapError(f"unknown encoding {found[0]!r}") from None
    return data
