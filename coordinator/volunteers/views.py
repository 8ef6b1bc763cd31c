"""The roster routes: list, create, edit, import, export. Phone numbers in the answers are
masked unless an admin asks (the roster page is often on a shared screen); a dispatcher still
finds a volunteer by their number (`q`), and types a new one to change it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.datastructures import UploadFile

from coordinator.accounts.service import Actor, record_audit
from coordinator.common import mask_phone
from coordinator.deps import Dispatcher, SessionDep, SettingsDep
from coordinator.geo import service as geo
from coordinator.lookup import fetch_or_404
from coordinator.sheets import MEDIA_TYPES
from coordinator.volunteers import exports, flows, importer, service
from coordinator.volunteers.errors import ImportFileError, RosterConflict, VolunteerNotFound
from coordinator.volunteers.models import (
    ImportResult,
    PendingPage,
    PendingVolunteer,
    SignupDecision,
    SkillExpiryBody,
    SkillExpiryPublic,
    Volunteer,
    VolunteerCreate,
    VolunteerPage,
    VolunteerPublic,
    VolunteerUpdate,
)

router = APIRouter(prefix="/api", tags=["volunteers"])


def _volunteer(session: Session, volunteer_id: int) -> Volunteer | None:
    return service.get_volunteer(session=session, volunteer_id=volunteer_id)


def _no_volunteer(volunteer_id: int) -> VolunteerNotFound:
    return VolunteerNotFound(f"no volunteer {volunteer_id}")


#: the volunteer in the path, or 404
VolunteerRow = Annotated[Volunteer, fetch_or_404("volunteer_id", _volunteer, missing=_no_volunteer)]


def _public(volunteer: object, actor: Actor) -> VolunteerPublic:
    """The volunteer as the API shows it: the phone masked unless `actor` is an admin."""
    public = VolunteerPublic.model_validate(volunteer, from_attributes=True)
    if actor.role != "admin":
        public.phone = mask_phone(public.phone)
    return public


@router.get("/volunteers", response_model=VolunteerPage)
def get_volunteers(
    session: SessionDep,
    actor: Dispatcher,
    district: Annotated[str | None, Query(max_length=40)] = None,
    skill: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> VolunteerPage:
    """The roster, filtered by district (name or code), skill, team name or a search `q`
    over names and phone numbers."""
    code = service.district_filter(session=session, name_or_code=district) if district else None
    team_id = None
    if team:
        team_id = service.team_id_named(session=session, name=team)
        if team_id is None:
            return VolunteerPage(items=[], count=0, offset=offset, limit=limit)
    skill_name = service.skill_filter(skill) if skill else None
    rows, total = service.list_volunteers(
        session=session,
        district=code,
        skill=skill_name,
        q=q,
        team_id=team_id,
        offset=offset,
        limit=limit,
    )
    items = [_public(v, actor) for v in rows]
    return VolunteerPage(items=items, count=total, offset=offset, limit=limit)


@router.post("/volunteers", status_code=status.HTTP_201_CREATED, response_model=VolunteerPublic)
def post_volunteer(
    body: VolunteerCreate, session: SessionDep, actor: Dispatcher
) -> VolunteerPublic:
    """Add one volunteer; the phone must be a mobile number not yet on the roster."""
    try:
        volunteer = service.create_volunteer(session=session, data=body)
    except IntegrityError:
        raise _conflict(session) from None
    record_audit(
        session=session,
        actor=actor,
        action="volunteer.created",
        subject=f"volunteer:{volunteer.id}",
        detail={"district": volunteer.district_code, "skills": volunteer.skills},
    )
    _commit(session)
    return _public(volunteer, actor)


@router.get("/volunteers/pending", response_model=PendingPage)
def get_pending(
    session: SessionDep,
    actor: Dispatcher,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> PendingPage:
    """Sign-ups waiting for approval, oldest first; phone numbers masked except for admins."""
    rows, total = service.pending(session=session, limit=limit)
    names = {d.code: d.name_zh for d in geo.list_districts(session=session)}
    items = [
        PendingVolunteer(
            id=v.id or 0,
            name=v.name,
            phone=v.phone if actor.role == "admin" else mask_phone(v.phone),
            district_code=v.district_code,
            district=names.get(v.district_code or ""),
            skills=v.skills,
            language=v.language,
            source=v.source,
            created_at=v.created_at,
        )
        for v in rows
    ]
    return PendingPage(items=items, count=total)


@router.post("/volunteers/{volunteer_id}/approve", response_model=VolunteerPublic)
def approve_volunteer(
    session: SessionDep,
    actor: Dispatcher,
    volunteer: VolunteerRow,
    body: SignupDecision | None = None,
) -> VolunteerPublic:
    """Approve a sign-up: the volunteer may be asked for work from now and is told by SMS.
    409 when they are not waiting (approved or declined already)."""
    done = flows.approve(
        session=session,
        volunteer_id=volunteer.id or 0,
        actor=actor,
        reason=body.reason if body else "",
    )
    _commit(session)
    return _public(done, actor)


@router.post("/volunteers/{volunteer_id}/decline", response_model=VolunteerPublic)
def decline_volunteer(
    session: SessionDep,
    actor: Dispatcher,
    volunteer: VolunteerRow,
    body: SignupDecision | None = None,
) -> VolunteerPublic:
    """Decline a sign-up; the person is told by SMS (the reason stays in the audit log)."""
    done = flows.decline(
        session=session,
        volunteer_id=volunteer.id or 0,
        actor=actor,
        reason=body.reason if body else "",
    )
    _commit(session)
    return _public(done, actor)


@router.get("/volunteers/{volunteer_id}/skill-expiry", response_model=SkillExpiryPublic)
def get_skill_expiry(
    session: SessionDep, _actor: Dispatcher, volunteer: VolunteerRow
) -> SkillExpiryPublic:
    """The last day each of the volunteer's expiring skills is certified (skills without a
    date never expire)."""
    vid = volunteer.id or 0
    found = service.skill_expiries(session=session, volunteer_ids=[vid]).get(vid, {})
    return SkillExpiryPublic(volunteer_id=vid, skill_expiry=found)


@router.put("/volunteers/{volunteer_id}/skill-expiry", response_model=SkillExpiryPublic)
def put_skill_expiry(
    body: SkillExpiryBody, session: SessionDep, actor: Dispatcher, volunteer: VolunteerRow
) -> SkillExpiryPublic:
    """Set the last day one of the volunteer's skills is certified (`expires_on`), or clear
    it (null: the skill no longer expires). The matching leaves an expired skill out for
    every shift that ends after that day; the volunteer is texted 30 days before."""
    expiry = service.set_skill_expiry(
        session=session, volunteer=volunteer, skill=body.skill, expires_on=body.expires_on
    )
    record_audit(
        session=session,
        actor=actor,
        action="volunteer.skill_expiry_set",
        subject=f"volunteer:{volunteer.id}",
        detail={"skill": body.skill, "expires_on": str(body.expires_on)},
    )
    _commit(session)
    return SkillExpiryPublic(volunteer_id=volunteer.id or 0, skill_expiry=expiry)


@router.get("/volunteers/{volunteer_id}", response_model=VolunteerPublic)
def get_volunteer(actor: Dispatcher, volunteer: VolunteerRow) -> VolunteerPublic:
    return _public(volunteer, actor)


@router.patch("/volunteers/{volunteer_id}", response_model=VolunteerPublic)
def patch_volunteer(
    body: VolunteerUpdate, session: SessionDep, actor: Dispatcher, volunteer: VolunteerRow
) -> VolunteerPublic:
    """Edit a volunteer: only the fields given change, each checked as a new volunteer's is
    (422 naming the column; 409 for a number on the roster already). Audited with the names
    of the fields that changed (never the values: a phone number stays out of the log)."""
    changed = service.update_volunteer(session=session, volunteer=volunteer, data=body)
    if changed:
        record_audit(
            session=session,
            actor=actor,
            action="volunteer.updated",
            subject=f"volunteer:{volunteer.id}",
            detail={"fields": changed},
        )
        _commit(session)
    return _public(volunteer, actor)


@router.get(
    "/exports/volunteers.{fmt}",
    response_class=Response,
    responses={200: {"content": {media_type: {} for media_type in MEDIA_TYPES.values()}}},
)
def export_volunteers(
    fmt: Literal["csv", "xlsx"],
    session: SessionDep,
    actor: Dispatcher,
    settings: SettingsDep,
    lang: Literal["zh", "en"] = "zh",
    district: Annotated[str | None, Query(max_length=40)] = None,
    skill: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The roster (filtered as `GET /volunteers` is) as CSV or XLSX, headers and values in
    `lang`'s words (Chinese by default); phones masked unless an admin asks. Personal data
    leaving the system: every download is audited."""
    code = service.district_filter(session=session, name_or_code=district) if district else None
    skill_name = service.skill_filter(skill) if skill else None
    masked = actor.role != "admin"
    body, count = exports.export(
        session=session,
        fmt=fmt,
        lang=lang,
        masked=masked,
        tz=settings.timezone,
        district=code,
        skill=skill_name,
        q=q,
    )
    record_audit(
        session=session,
        actor=actor,
        action="volunteers.exported",
        subject=f"volunteers.{fmt}",
        detail={
            "rows": count,
            "masked": masked,
            "filters": {"district": code, "skill": skill_name, "q": bool(q)},
        },
    )
    _commit(session)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="nuanliu-volunteers-{lang}.{fmt}"'},
    )


def _conflict(session: Session) -> RosterConflict:
    session.rollback()
    return RosterConflict()


def _commit(session: Session) -> None:
    """Commit; a number added meanwhile by someone else (the unique phone index) is a 409."""
    try:
        session.commit()
    except IntegrityError:
        raise _conflict(session) from None


@router.post(
    "/volunteers/import",
    response_model=ImportResult,
    responses={
        413: {"description": "file larger than NUANLIU_IMPORT_MAX_BYTES (16 MB by default)"},
        422: {"description": "not a roster file: unreadable, wrong columns, too many rows"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            }
        }
    },
)
async def import_volunteers(
    request: Request,
    session: SessionDep,
    actor: Dispatcher,
    dry_run: bool = False,
) -> ImportResult:
    """Import a CSV or XLSX roster (a multipart `file` field, or the file as the body), of
    at most `NUANLIU_IMPORT_MAX_BYTES`. Valid rows are imported; the answer lists every
    rejected row with its column and reason. `dry_run=true` validates without storing
    anything."""
    filename = ""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ImportFileError("no file field in the form", zh="表单里没有文件")
        filename = upload.filename or ""
        data = await upload.read()
    else:
        data = await request.body()
    if not data:
        raise ImportFileError("the file is empty", zh="文件是空的")
    # 20,000 rows take seconds to check and store: on the event loop, every other request
    # (/healthz among them) waited for them
    return await run_in_threadpool(_import, session, actor, data, filename, dry_run)


def _import(
    session: Session, actor: Actor, data: bytes, filename: str, dry_run: bool
) -> ImportResult:
    """Check and store a roster file in one transaction, and audit it (in a worker thread)."""
    try:
        result = importer.import_volunteers(
            session=session, data=data, filename=filename, dry_run=dry_run
        )
    except IntegrityError:
        raise _conflict(session) from None
    if dry_run:
        session.rollback()
        return result
    record_audit(
        session=session,
        actor=actor,
        action="volunteers.imported",
        subject=filename[:96] or "upload",
        detail={
            "rows": result.rows,
            "created": result.created,
            "rejected": result.rejected,
            "bytes": len(data),
        },
    )
    _commit(session)
    return result
