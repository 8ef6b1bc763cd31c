"""Stock, movements and discrepancies as CSV or XLSX downloads."""

from __future__ import annotations

from fastapi import APIRouter, Response

from coordinator.deps import Dispatcher, SessionDep
from coordinator.logistics import exports

router = APIRouter(prefix="/api", tags=["logistics"])


MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get(
    "/exports/{filename}",
    response_class=Response,
    responses={200: {"content": {media_type: {} for media_type in MEDIA_TYPES.values()}}},
)
def download(filename: str, session: SessionDep, actor: Dispatcher) -> Response:
    """`stock|movements|discrepancies` `.csv|.xlsx`, formula injection escaped."""
    name, _, fmt = filename.rpartition(".")
    body = exports.export(session=session, name=name, fmt=fmt)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="nuanliu-{name}.{fmt}"'},
    )
