"""The rota page (issue 15): a phone page where a volunteer signs in with a code texted to
them, picks travel-rush station shifts and gives them back. No staff login: its calls go
to `/api/rota/*` with the rota cookie (see `volunteers.phone_login`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from coordinator.board.pages import templates
from coordinator.deps import EngineDep
from coordinator.volunteers import service as roster
from coordinator.volunteers.service import ROTA_COOKIE

router = APIRouter(include_in_schema=False)


@router.get("/rota", response_class=HTMLResponse)
def rota_page(request: Request, engine: EngineDep) -> HTMLResponse:
    """Signed in (the rota cookie): the shifts; otherwise the phone number and code form."""
    with Session(engine, expire_on_commit=False) as session:
        found = roster.rota_session(session=session, cookie=request.cookies.get(ROTA_COOKIE))
    context = {
        "user": None,
        "csrf_token": found.csrf_token if found else "",
        "timezone": request.app.state.services.settings.timezone,
        "signed_in": found is not None,
    }
    response = templates.TemplateResponse(request, "rota.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response
