"""Many certificates as one zip, streamed: each PDF is rendered, written into the archive and
handed on before the next is made, so memory holds one PDF (plus the archive's small
directory), not the batch. The zip is written without seeking (sizes follow each member in
a data descriptor), which any unzip reads. PDFs are compressed already: stored, not
deflated again."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime


class _Sink(io.RawIOBase):
    """A write-only, unseekable file that keeps what was written until it is drained."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def drain(self) -> Iterator[bytes]:
        if self._parts:
            chunk = b"".join(self._parts)
            self._parts.clear()
            yield chunk


def zip_stream(members: Iterable[tuple[str, datetime, Callable[[], bytes]]]) -> Iterator[bytes]:
    """The zip of `members` (file name, its time, a function making its bytes), in chunks."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, moment, make in members:
            info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, make())
            yield from sink.drain()
    yield from sink.drain()
