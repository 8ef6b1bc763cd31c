"""The rota page's sign-in by SMS code (issue 15): ask for a code, give it back, sign out.
Anyone may call these (a volunteer has no account); what they open is scoped to one
volunteer (see `phone_login`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from coordinator.accounts.web import client_address
from coordinator.deps import SessionDep, SettingsDep
from coordinator.volunteers import phone_login
from coordinator.volunteers.service import ROTA_COOKIE

router = APIRouter(prefix="/api/rota", tags=["rota"])


class CodeRequest(BaseModel):
    phone: str = Field(min_length=1, max_length=32)


class CodeCheck(BaseModel):
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=16)


class SignedIn(BaseModel):
    volunteer_id: int
    csrf_token: str


class Sent(BaseModel):
    detail: str


@router.post("/code", status_code=status.HTTP_202_ACCEPTED, response_model=Sent)
def post_code(
    body: CodeRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Sent:
    """Text a six-digit sign-in code to the number if it is a volunteer's. The answer is the
    same for any mobile number (422 for one that is none, 429 past the hourly limits)."""
    phone_login.request_code(
        session=session, phone=body.phone, address=client_address(request), settings=settings
    )
    session.commit()
    return Sent(detail="if this number is a volunteer's, a code is on its way")


@router.post("/session", response_model=SignedIn)
def post_session(
    body: CodeCheck,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> SignedIn:
    """Sign in with the code: sets the rota cookie (this volunteer's only). 401 for a wrong,
    used or expired code (each wrong try counts towards the code's limit)."""
    try:
        opened = phone_login.verify_code(
            session=session, phone=body.phone, code=body.code, settings=settings
        )
    except phone_login.WrongCode:
        session.commit()  # the wrong try is counted
        raise
    session.commit()
    response.set_cookie(
        ROTA_COOKIE,
        opened.cookie,
        max_age=int(settings.rota_session_lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SignedIn(volunteer_id=opened.volunteer_id, csrf_token=opened.csrf_token)


@router.post("/session/end", status_code=status.HTTP_204_NO_CONTENT)
def end_session(request: Request, session: SessionDep) -> Response:
    """Sign out of the rota page."""
    phone_login.end_session(session=session, cookie=request.cookies.get(ROTA_COOKIE, ""))
    session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(ROTA_COOKIE, path="/")
    return response
