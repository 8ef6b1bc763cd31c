"""The public sign-up page (`/join`, anyone, no login) and its printable QR posters
(`/board/posters/{kind}/{id}`, dispatchers).

The page is two plain HTML form posts, so it works on any phone without scripts: the form
with "get a code" (`POST /join/code`), then the same form with the code (`POST /join`). The
rules are `coordinator.volunteers.joining`'s; this module only reads the form and renders.
Without a session the forms carry a double-submit CSRF token, as the login form does
(`accounts.web.login_csrf`, under a cookie of the page's own, for `/join` only).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from coordinator.accounts import web as auth
from coordinator.board.pages import PageRoute, page
from coordinator.board.posters import join_url, qr_svg
from coordinator.common import mask_phone
from coordinator.deps import Dispatcher, SessionDep, SettingsDep
from coordinator.errors import DomainError
from coordinator.geo import service as geo
from coordinator.logistics import service as logistics
from coordinator.volunteers import joining
from coordinator.volunteers.joining import JoinRefused, Limits

router = APIRouter(route_class=PageRoute, include_in_schema=False)

JOIN_CSRF_COOKIE = "nuanliu_join_csrf"
JOIN_PATH = "/join"
#: the longest a form field may be before it is refused outright (the rules are stricter)
FIELD_MAX = 256


def _station_district(session: Session, station: str) -> str | None:
    """The district of the station a poster names, or None (an unknown one is ignored: the
    page is public, and a wrong link should still let a person sign up)."""
    if not station.isdigit() or len(station) > 9:
        return None
    try:
        place = logistics.get_place(session=session, place_id=int(station), kind="station")
    except DomainError:
        return None
    return place.district_code


def _form(
    request: Request,
    session: Session,
    *,
    values: dict[str, Any],
    step: str = "details",
    error: dict[str, str] | None = None,
    field: str | None = None,
    notice: dict[str, str] | None = None,
    wait: int = 0,
    code: int = 200,
) -> HTMLResponse:
    token = auth.login_csrf(request, JOIN_CSRF_COOKIE)
    context = {
        "join_csrf": token,
        "values": values,
        "step": step,
        "error": error,
        "field": field,
        "notice": notice,
        "wait": wait,
        "districts": geo.list_districts(session=session),
        "skills": joining.SKILLS,
    }
    response = page(request, "join.html", context, status_code=code)
    auth.set_login_csrf_cookie(response, request, token, cookie=JOIN_CSRF_COOKIE, path=JOIN_PATH)
    return response


#: the answer to a form without the page's token: a page left open past the cookie's hour,
#: or a post from another site; the person sees the form again, nothing is stored or sent
STALE_FORM = {
    "zh": "页面已过期，请重新提交。",
    "en": "This page had expired; please send the form again.",
}


def _csrf_ok(request: Request, given: str) -> bool:
    return auth.tokens_match(request.cookies.get(JOIN_CSRF_COOKIE), given)


Field = Annotated[str, Form(max_length=FIELD_MAX)]


@router.get(JOIN_PATH, response_class=HTMLResponse)
def join_page(
    request: Request,
    session: SessionDep,
    district: Annotated[str, Query(max_length=FIELD_MAX)] = "",
    station: Annotated[str, Query(max_length=FIELD_MAX)] = "",
) -> HTMLResponse:
    """The sign-up form; a poster's `?district=<code>` or `?station=<id>` picks the district."""
    chosen = _station_district(session, station) if station else None
    if chosen is None and district:
        found = geo.get_district(session=session, code=district.strip())
        chosen = found.code if found else None
    return _form(request, session, values={"district": chosen or "", "skills": []})


@router.post(JOIN_PATH + "/code", response_class=HTMLResponse)
def join_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: Field = "",
    name: Field = "",
    phone: Field = "",
    district: Field = "",
    skills: Annotated[list[str], Form(max_length=len(joining.SKILLS) + 1)] = [],  # noqa: B006
    lang: Field = "zh",
    step: Field = "details",
) -> HTMLResponse:
    """Check the form and text a one-time code to the number; the page then asks for it."""
    values = {"name": name, "phone": phone, "district": district, "skills": skills}
    if not _csrf_ok(request, csrf_token):
        return _form(request, session, values=values, error=STALE_FORM, code=403)
    limits = Limits.of(settings)
    try:
        applicant = joining.check_form(
            session=session, name=name, phone=phone, district=district, skills=skills, language=lang
        )
        joining.request_code(
            session=session,
            applicant=applicant,
            address=auth.client_address(request),
            limits=limits,
        )
    except JoinRefused as refused:
        session.rollback()  # a refused request stores nothing
        return _form(
            request,
            session,
            values=values,
            step="code" if step == "code" else "details",
            error=refused.text,
            field=refused.field,
            code=refused.status,
        )
    session.commit()
    minutes = max(1, int(limits.lifetime.total_seconds() // 60))
    masked = mask_phone(applicant.phone)
    notice = {
        "zh": f"验证码已发送到 {masked}，{minutes}分钟内有效。",
        "en": f"A code was texted to {masked}; it is valid for {minutes} min.",
    }
    wait = int(limits.interval.total_seconds())
    return _form(request, session, values=values, step="code", notice=notice, wait=wait)


@router.post(JOIN_PATH, response_class=HTMLResponse)
def join(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: Field = "",
    name: Field = "",
    phone: Field = "",
    district: Field = "",
    skills: Annotated[list[str], Form(max_length=len(joining.SKILLS) + 1)] = [],  # noqa: B006
    lang: Field = "zh",
    code: Field = "",
) -> HTMLResponse:
    """Sign up with the texted code: the person lands in the approval queue."""
    values = {"name": name, "phone": phone, "district": district, "skills": skills}
    if not _csrf_ok(request, csrf_token):
        return _form(request, session, values=values, error=STALE_FORM, code=403)
    try:
        applicant = joining.check_form(
            session=session, name=name, phone=phone, district=district, skills=skills, language=lang
        )
        volunteer = joining.confirm(
            session=session, applicant=applicant, code=code, limits=Limits.of(settings)
        )
    except JoinRefused as refused:
        session.commit()  # a wrong try counts (and nothing else was written)
        return _form(
            request,
            session,
            values=values,
            step="code",
            error=refused.text,
            field=refused.field,
            code=refused.status,
        )
    session.commit()
    done = {"name": volunteer.name, "phone": mask_phone(volunteer.phone)}
    return _form(request, session, values={"skills": []}, step="done", notice=done)


@router.get("/board/posters", response_class=HTMLResponse)
def posters(request: Request, session: SessionDep, _actor: Dispatcher) -> HTMLResponse:
    """The posters there are to print: one per district, one per station."""
    return page(
        request,
        "posters.html",
        {
            "districts": geo.list_districts(session=session),
            "stations": logistics.places_of_kind(session=session, kind="station"),
        },
    )


@router.get("/board/posters/{kind}/{ident}", response_class=HTMLResponse)
def poster(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _actor: Dispatcher,
    kind: Literal["district", "station"],
    ident: Annotated[str, Path(max_length=12)],
) -> HTMLResponse:
    """A printable A4 poster whose QR code opens the sign-up page with this station's or
    district's district chosen; the address is `NUANLIU_PUBLIC_URL` (else this page's own)."""
    base = settings.public_base_url or str(request.base_url)
    if kind == "district":
        found = geo.get_district(session=session, code=ident)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no district {ident}")
        title, subtitle, url = found.name_zh, found.name_en, join_url(base, district=found.code)
    else:
        try:
            place = logistics.get_place(
                session=session, place_id=int(ident) if ident.isdigit() else 0, kind="station"
            )
        except DomainError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no station {ident}") from None
        title, subtitle, url = place.name_zh, place.name_en, join_url(base, station=place.id)
    return page(
        request,
        "poster.html",
        {"title": title, "subtitle": subtitle, "url": url, "qr": qr_svg(url), "kind": kind},
    )
