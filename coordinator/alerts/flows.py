"""Raising an alert: store it, open (or change, or close) its incident and stage the events,
all in the caller's transaction. Every intake (JSON, CAP, feeds, the travel-rush calendar)
comes through :func:`raise_alert`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from coordinator.accounts.service import Actor, record_audit
from coordinator.alerts import cap, service
from coordinator.alerts.errors import (
    AlertRejected,
    InvalidPeriod,
    KeyReused,
    OutsideDistricts,
    UnknownReference,
)
from coordinator.alerts.models import Alert, AlertPreview, PreviewDistrict, PreviewTask
from coordinator.common import aware, utcnow
from coordinator.config import Settings
from coordinator.dispatch import service as dispatch_service
from coordinator.dispatch.flows import incidents, planning
from coordinator.dispatch.playbooks import TaskSpec
from coordinator.geo.outlines import Outlines
from coordinator.geo.service import list_districts
from events.outbox import stage
from events.payloads.alerts import AlertArrivedExpired, AlertRaised

#: how long an Idempotency-Key answers with the alert it first raised
KEY_HOLD = timedelta(hours=24)


@dataclass
class AlertInput:
    """An alert from any intake, its districts already resolved to GB/T 2260 codes."""

    sender: str
    identifier: str
    sent: datetime
    kind: str
    level: str
    districts: list[str]
    headline: str
    source: str = "api"
    msg_type: str = "Alert"
    event: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    raw: str = ""
    references: list[tuple[str, str, datetime | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Raised:
    alert: Alert
    incident_id: int | None
    #: False when this exact alert (same identity) was already stored
    created: bool
    #: its end had passed when it arrived: recorded, no incident, nobody sent out
    expired: bool = False


def raise_alert(
    *, session: Session, data: AlertInput, actor: Actor | str, now: datetime | None = None
) -> Raised:
    """Store the alert and act on it: a new alert opens an incident (IncidentOpened +
    AlertRaised); an Update changes the incident it references (AlertRaised again, so dispatch
    plans what is new); a Cancel closes it (IncidentClosed). An Alert or Update whose end had
    passed by `now` (when it arrived) is only recorded (AlertArrivedExpired): acting on it
    would send volunteers out for weather that is over. The same alert twice changes
    nothing. Raises AlertRejected."""
    sent = service.utc(data.sent)
    seen = service.find_by_identity(
        session=session, sender=data.sender, identifier=data.identifier, sent=sent
    )
    if seen is not None:
        return Raised(seen, seen.incident_id, created=False, expired=_arrived_expired(seen))
    referenced = (
        service.find_referenced(session=session, references=data.references)
        if data.msg_type in ("Update", "Cancel") and data.references
        else []
    )
    incident = None
    for ref in referenced:
        if ref.incident_id is not None:
            incident = dispatch_service.get_incident(session=session, incident_id=ref.incident_id)
            if incident is not None:
                break
    if data.msg_type == "Cancel":
        if incident is None:
            raise UnknownReference("a Cancel that references no alert we know")
        alert = _store(session, data, sent, incident.id)
        incidents.close_incident(
            session=session,
            incident=incident,
            reason=f"cancelled by {data.sender} {data.identifier}"[:200],
            actor=actor,
        )
        _audit(session, actor, "alert.cancelled", alert, incident.id)
        return Raised(alert, incident.id, created=True)
    if not data.districts and (incident is None or incident.status != "open"):
        raise OutsideDistricts("its area is outside our districts")
    received = now or utcnow()
    if data.ends_at is not None and service.utc(data.ends_at) <= received:
        return _record_expired(session, data, sent, actor, received)
    if incident is not None and incident.status == "open":
        incidents.update_incident(  # an Update: dispatch owns the incident
            session=session,
            incident=incident,
            kind=data.kind,
            level=data.level,
            title=data.headline,
            districts=data.districts,
            ends_at=data.ends_at,
        )
        action = "alert.updated"
    else:
        incident = incidents.open_incident(
            session=session,
            kind=data.kind,
            level=data.level,
            title=data.headline,
            districts=data.districts,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
        )
        action = "alert.raised"
    assert incident.id is not None
    alert = _store(session, data, sent, incident.id)
    assert alert.id is not None
    stage(
        session,
        AlertRaised(
            alert_id=alert.id,
            incident_id=incident.id,
            kind=incident.kind,  # type: ignore[arg-type]
            level=incident.level,  # type: ignore[arg-type]
            districts=list(incident.districts),
            headline=data.headline,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            source=data.source,
        ),
    )
    _audit(session, actor, action, alert, incident.id)
    return Raised(alert, incident.id, created=True)


def _arrived_expired(alert: Alert) -> bool:
    """An alert stored without an incident because it had ended when it arrived."""
    ends_at, received = aware(alert.ends_at), aware(alert.received_at)
    return (
        alert.incident_id is None
        and alert.msg_type != "Cancel"
        and ends_at is not None
        and received is not None
        and ends_at <= received
    )


def _record_expired(
    session: Session, data: AlertInput, sent: datetime, actor: Actor | str, received: datetime
) -> Raised:
    assert data.ends_at is not None
    alert = _store(session, data, sent, None, received_at=received)
    assert alert.id is not None
    stage(
        session,
        AlertArrivedExpired(
            alert_id=alert.id,
            kind=alert.kind,  # type: ignore[arg-type]
            level=alert.level,  # type: ignore[arg-type]
            districts=list(alert.districts),
            headline=alert.headline,
            ends_at=data.ends_at,
            received_at=received,
            source=data.source,
        ),
    )
    _audit(session, actor, "alert.arrived_expired", alert, None)
    return Raised(alert, None, created=True, expired=True)


def check_period(*, starts_at: datetime | None, ends_at: datetime | None) -> None:
    """Refuse (InvalidPeriod) a JSON alert that ends before, or when, it starts."""
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidPeriod("ends_at must be after starts_at")


def raise_once(
    *,
    session: Session,
    data: AlertInput,
    actor: Actor | str,
    key: str | None,
    window: timedelta,
    now: datetime,
) -> Raised:
    """:func:`raise_alert` for a JSON alert that may come twice. With an Idempotency-Key
    `key`, the same key from the same sender within KEY_HOLD answers with the alert it raised
    (`created` False), and raises KeyReused if the body differs. Without one, an identical body
    (see `service.fingerprint`) from the same sender within `window` of the alert it raised
    answers with that alert. The claim row is locked first, so concurrent copies take turns
    and all but the first find its alert (see `AlertClaim`)."""
    fingerprint = service.fingerprint(
        kind=data.kind,
        level=data.level,
        districts=data.districts,
        headline=data.headline,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
    )
    claim = service.claim(
        session=session,
        sender=data.sender,
        key=f"key:{key}" if key is not None else f"body:{fingerprint}",
        now=now,
    )
    hold = KEY_HOLD if key is not None else window
    claimed_at = aware(claim.claimed_at)
    if claim.alert_id is not None and claimed_at is not None and now - claimed_at < hold:
        if claim.fingerprint != fingerprint:
            raise KeyReused(
                "this Idempotency-Key was used for a different alert in the last 24 hours: "
                "send a new key for a new alert"
            )
        seen = session.get(Alert, claim.alert_id)
        if seen is not None:
            return Raised(seen, seen.incident_id, created=False)
    raised = raise_alert(session=session, data=data, actor=actor, now=now)
    claim.alert_id = raised.alert.id
    claim.fingerprint = fingerprint
    claim.claimed_at = now
    session.add(claim)
    session.flush()
    return raised


def prune_claims(*, session: Session, now: datetime, window: timedelta) -> int:
    """Delete the claims no copy can match any more (older than both KEY_HOLD and the
    dedupe `window`), so the table holds about a day of alerts, not every one ever raised.
    Returns how many went; the alerts themselves stay."""
    return service.delete_claims_before(session=session, cutoff=now - max(KEY_HOLD, window))


def _store(
    session: Session,
    data: AlertInput,
    sent: datetime,
    incident_id: int | None,
    *,
    received_at: datetime | None = None,
) -> Alert:
    alert = Alert(
        sender=data.sender[:255],
        identifier=data.identifier[:255],
        sent=sent,
        msg_type=data.msg_type,
        source=data.source,
        kind=data.kind,
        level=data.level,
        districts=list(data.districts),
        headline=data.headline[:300],
        event=data.event[:120],
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        incident_id=incident_id,
        raw=data.raw,
        received_at=received_at or utcnow(),
    )
    session.add(alert)
    session.flush()
    return alert


def _audit(
    session: Session, actor: Actor | str, action: str, alert: Alert, incident_id: int | None
) -> None:
    record_audit(
        session=session,
        actor=actor,
        action=action,
        subject=f"alert:{alert.id}",
        detail={
            "incident_id": incident_id,
            "kind": alert.kind,
            "level": alert.level,
            "districts": alert.districts,
            "source": alert.source,
            "identity": [alert.sender, alert.identifier, alert.sent.isoformat()],
        },
    )


# -- CAP ---------------------------------------------------------------------------------------
@dataclass
class CapIngest:
    """What a CAP body did: the alerts raised (or found again) and the ones skipped, why."""

    raised: list[Raised] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def cap_input(*, message: cap.CapMessage, districts: list[str], source: str) -> AlertInput:
    return AlertInput(
        sender=message.sender,
        identifier=message.identifier,
        sent=message.sent,
        kind=message.kind,
        level=message.level,
        districts=districts,
        headline=message.headline,
        source=source,
        msg_type=message.msg_type,
        event=message.event,
        starts_at=message.onset,
        ends_at=message.expires,
        raw=message.raw,
        references=list(message.references),
    )


def ingest_cap(
    *,
    session: Session,
    data: bytes,
    actor: Actor | str,
    outlines: Outlines,
    source: str = "cap",
    now: datetime | None = None,
) -> CapIngest:
    """Raise every CAP alert in `data` that concerns our districts (their areas matched
    against `outlines`), in the caller's transaction. Alerts outside them are skipped with the
    reason (see the views for why this is a 422 rather than an incident without tasks). Raises
    cap.CapError for bad XML."""
    messages = cap.parse(data)
    refs = [
        cap.DistrictRef(d.code, d.name_zh, d.name_en, d.lat, d.lon)
        for d in list_districts(session=session)
    ]
    out = CapIngest()
    for message in messages:
        label = f"{message.sender} {message.identifier}"
        districts = cap.districts_of(message, refs, outlines=outlines)
        try:
            out.raised.append(
                raise_alert(
                    session=session,
                    data=cap_input(message=message, districts=districts, source=source),
                    actor=actor,
                    now=now,
                )
            )
        except AlertRejected as exc:
            out.skipped.append(f"{label}: {exc}")
    return out


# -- a preview -------------------------------------------------------------------------------
def preview(
    *, session: Session, data: AlertInput, settings: Settings, now: datetime
) -> AlertPreview:
    """The tasks and slots a new alert `data` would make dispatch plan if it arrived at `now`,
    by the same planning the dispatch consumer runs on its AlertRaised (the same playbook,
    districts, stations and start), with the totals per district; none if it had expired by
    then (see :func:`raise_alert`). Reads only: stores, stages and audits nothing."""
    start = planning.plan_start(starts_at=data.starts_at, now=now)
    expired = data.ends_at is not None and service.utc(data.ends_at) <= now
    specs = (
        []
        if expired
        else planning.plan_specs(
            session=session,
            kind=data.kind,
            level=data.level,
            districts=data.districts,
            start=start,
            settings=settings,
        )
    )
    names = {d.code: d for d in list_districts(session=session)}
    per: dict[str, list[int]] = {code: [0, 0] for code in data.districts}
    for spec in specs:
        counts = per.setdefault(spec.place.district_code or "", [0, 0])
        counts[0] += 1
        counts[1] += spec.slots
    return AlertPreview(
        kind=data.kind,
        level=data.level,
        headline=data.headline,
        starts_at=start,
        ends_at=data.ends_at,
        expired=expired,
        districts=[
            PreviewDistrict(
                code=code,
                name_zh=names[code].name_zh if code in names else code,
                name_en=names[code].name_en if code in names else code,
                tasks=n,
                slots=slots,
            )
            for code, (n, slots) in per.items()
        ],
        tasks=[_preview_task(spec) for spec in specs],
        total_tasks=len(specs),
        total_slots=sum(spec.slots for spec in specs),
    )


def _preview_task(spec: TaskSpec) -> PreviewTask:
    """A planned task as the preview shows it, cut to the lengths a stored task keeps."""
    return PreviewTask(
        plan_key=spec.plan_key,
        kind=spec.kind,
        title=spec.title[:120],
        title_en=spec.title_en[:160],
        place=spec.place.name_zh[:120],
        place_en=spec.place.name_en[:160],
        district_code=spec.place.district_code,
        slots=spec.slots,
        skills=list(spec.skills),
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        team_task=spec.team_task,
    )
