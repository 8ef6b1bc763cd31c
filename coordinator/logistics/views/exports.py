"""Stock, movements and discrepancies as CSV or XLSX downloads."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from coordinator.deps import Dispatcher, SessionDep
from coordinator.logistics import exports
from coordinator.sheets import MEDIA_TYPES

router = APIRouter(prefix="/api", tags=["logistics"])


@router.get(
    "/exports/{filename}",
    response_class=Response,
    responses={200: {"content": {media_type: {} for media_type in MEDIA_TYPES.values()}}},
)
def download(
    filename: str,
    session: SessionDep,
    actor: Dispatcher,
    lang: Annotated[Literal["zh", "en"] | None, Query()] = None,
) -> Response:
    """`stock|movements|discrepancies` `.csv|.xlsx`, formula injection escaped; `lang=zh`
    (or `en`) for column headers, names and kinds in words instead of the machine names."""
    name, _, fmt = filename.rpartition(".")
    body = exports.export(session=session, name=name, fmt=fmt, lang=lang)
    suffix = f"-{lang}" if lang else ""
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="nuanliu-{name}{suffix}.{fmt}"'},
    )
