"""The sign-up poster's parts: the address a poster points at, and its QR code (segno)."""

from __future__ import annotations

from urllib.parse import urlencode

import segno


def join_url(base: str, *, district: str | None = None, station: int | None = None) -> str:
    """The public sign-up page under `base` (`https://nuanliu.example.org`), with the
    station or district that pre-fills its form."""
    query = {"station": str(station)} if station is not None else {}
    if district is not None and station is None:
        query = {"district": district}
    tail = "?" + urlencode(query) if query else ""
    return base.rstrip("/") + "/join" + tail


def qr_svg(url: str) -> str:
    """The QR code of `url` as an inline SVG without a size (the page's CSS gives it one, in
    millimetres for print). Error correction M: a poster on a station's wall gets scuffed."""
    return str(segno.make(url, error="m").svg_inline(omitsize=True, border=4, dark="#000"))
