"""The roster page of the board (issue 14): find, add and edit volunteers, opt them out and
back in, import a file and read every rejected row, download the roster. The page's actions
call the roster's JSON API (`/api/volunteers…`, `/api/exports/volunteers.*`) with the
session's CSRF token; this module only serves the page and what it needs to draw its forms
(the districts and the skills, in both languages)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from coordinator.board.pages import PageRoute, page
from coordinator.deps import Dispatcher, SessionDep
from coordinator.geo import service as geo
from coordinator.volunteers import service as roster

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/board/volunteers", response_class=HTMLResponse)
def volunteers_page(request: Request, actor: Dispatcher, session: SessionDep) -> HTMLResponse:
    districts = [
        {"code": d.code, "zh": d.name_zh, "en": d.name_en}
        for d in geo.list_districts(session=session)
    ]
    skills = [{"key": k, "zh": zh, "en": en} for k, (zh, en) in roster.SKILL_WORDS.items()]
    return page(
        request,
        "volunteers.html",
        {"districts": districts, "skills": skills, "admin": actor.role == "admin"},
    )
