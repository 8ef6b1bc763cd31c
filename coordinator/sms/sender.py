"""The sender: delivers queued outbound messages through the gateway, each at most once.

A message is claimed (status "sending", committed) BEFORE the gateway is called, so no crash
can ever send it twice: a row left in "sending" by a crash becomes "unknown" after
`stale_after_s` and is shown to the dispatcher, never resent automatically. A provider that
refuses a text for now (throttled, a transient error: nothing went out) has it tried again
within the claim, after a backoff and at the account's rate (`ratelimit.TokenBucket`); an
answer that says it may have gone (a timeout) is never tried again. The result is
written with its `SmsSent`/`SmsFailed` event in one transaction. On PostgreSQL rows are claimed
with `FOR UPDATE SKIP LOCKED`, so several notify workers share the queue without overlap; on
SQLite the claim runs under `BEGIN IMMEDIATE` (see `db.py`), which serialises it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter as MetricCounter
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.common import utcnow
from coordinator.sms import flows, service
from coordinator.sms.models import SmsMessage
from coordinator.sms.ratelimit import TokenBucket
from coordinator.sms.results import Gateway, SendResult
from coordinator.sms.templates import redacted
from events.base import EventPayload
from events.outbox import stage_many
from events.payloads.sms import SmsSent

log = logging.getLogger(__name__)

SMS_SENT = MetricCounter("nuanliu_sms_outbound_total", "Outbound SMS by final status", ["status"])
SMS_RETRIES = MetricCounter(
    "nuanliu_sms_retries_total", "Tries again after a provider refused a text for now", ["gateway"]
)


@dataclass(frozen=True)
class _Claimed:
    id: int
    phone: str
    body: str
    template: str | None
    params: dict[str, str] | None


class Sender:
    """A background thread draining the queue; `run_once` is the unit tests drive."""

    def __init__(
        self,
        engine: Engine,
        gateway: Gateway,
        *,
        batch_size: int = 100,
        idle_s: float = 0.5,
        stale_after_s: float | None = None,
        bucket: TokenBucket | None = None,
        attempts: int = 1,
        retry_base_s: float = 0.5,
        max_wait_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.batch_size = batch_size
        self.idle_s = idle_s
        #: the provider account's rate (None: as fast as the gateway goes)
        self.bucket = bucket
        #: tries of a text the provider refused for now ("retry": nothing went out)
        self.attempts = max(1, attempts)
        self.retry_base_s = retry_base_s
        self.max_wait_s = max_wait_s
        # A live sender may hold a claimed batch for batch × (every try's timeout and the
        # waits between them); only rows older than twice that (and at least two minutes)
        # can have lost their sender.
        per_message = float(getattr(gateway, "timeout_s", 1.0)) * self.attempts + sum(
            self.backoff(n, None) for n in range(1, self.attempts)
        )
        self.stale_after_s = (
            stale_after_s if stale_after_s is not None else max(120.0, 2 * batch_size * per_message)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handled = 0
        #: tries after the first, for the metrics and the benchmark
        self.retries = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Sender:
        self._thread = threading.Thread(target=self.run, name="sms-sender", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        service.WAKE.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        backoff = self.idle_s
        while not self._stop.is_set():
            try:
                self.mark_stuck_unknown()
                while not self._stop.is_set() and self.run_once():
                    pass
                backoff = self.idle_s
                service.WAKE.wait(self.idle_s)
                service.WAKE.clear()
            except Exception:
                log.exception("SMS sender failed; retrying in %.1fs", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- work ------------------------------------------------------------------------------
    def claim(self) -> list[_Claimed]:
        """Mark up to `batch_size` queued rows "sending" and commit; returns them."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.execute(
                sa_select(
                    col(SmsMessage.id),
                    col(SmsMessage.phone),
                    col(SmsMessage.body),
                    col(SmsMessage.template),
                    col(SmsMessage.params),
                )
                .where(col(SmsMessage.status) == "queued", col(SmsMessage.direction) == "outbound")
                .order_by(col(SmsMessage.id))
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            claimed = [_Claimed(*row) for row in rows]
            if claimed:
                session.execute(
                    sa_update(SmsMessage)
                    .where(col(SmsMessage.id).in_([c.id for c in claimed]))
                    .values(status="sending", gateway=self.gateway.name, updated_at=utcnow())
                )
            session.commit()
        return claimed

    def run_once(self) -> int:
        """Claim a batch, send it, record the outcomes; returns how many were handled."""
        claimed = self.claim()
        if not claimed:
            return 0
        results = [(message, self._deliver(message)) for message in claimed]
        self._record(results)
        self.handled += len(results)
        return len(results)

    def backoff(self, tries: int, retry_after: float | None) -> float:
        """How long to wait after `tries` refused tries: what the provider asked for, else
        exponential from `retry_base_s`, at most `max_wait_s`."""
        if retry_after is not None and retry_after > 0:
            return min(self.max_wait_s, retry_after)
        return min(self.max_wait_s, self.retry_base_s * 2 ** (tries - 1))

    def _deliver(self, message: _Claimed) -> SendResult:
        """One claimed text through the gateway, at the account's rate. A "retry" answer
        (throttled, a transient error: nothing went out) is tried again after a backoff while
        the claim is held, so no other sender can pick the text up meanwhile; an answer that
        says it may have gone ("unknown") is never tried again. Out of tries it is failed
        with the provider's code; stopping meanwhile hands it back to the queue."""
        tries = 0
        while True:
            if self.bucket is not None and not self.bucket.acquire(self._stop):
                return SendResult(None, "retry", "sender stopped before sending")
            tries += 1
            try:
                result = self.gateway.send(
                    message.phone,
                    message.body,
                    template_id=message.template,
                    params=message.params,
                )
            except Exception as exc:  # a gateway bug: we cannot know whether it went out
                log.exception("gateway raised for SMS %s", message.id)
                return SendResult(None, "unknown", f"gateway error: {exc}"[:500])
            if result.status != "retry":
                return result
            if tries >= self.attempts:
                why = f"gave up after {tries} tries: {result.error or result.code}"
                return SendResult(None, "failed", why[:500], result.code)
            wait = self.backoff(tries, result.retry_after)
            log.info(
                "SMS %s: %s refused it for now (%s); again in %.2fs",
                message.id,
                self.gateway.name,
                result.code,
                wait,
            )
            self.retries += 1
            SMS_RETRIES.labels(gateway=self.gateway.name).inc()
            if self._stop.wait(wait):
                return result  # stopping: back to the queue, nothing went out

    def _record(self, results: list[tuple[_Claimed, SendResult]]) -> None:
        with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            now = utcnow()
            ids = [message.id for message, _ in results]
            # only rows still "sending": anything else was changed by someone who knows better
            rows = {
                row.id: row
                for row in session.exec(
                    select(SmsMessage)
                    .where(col(SmsMessage.id).in_(ids), SmsMessage.status == "sending")
                    .with_for_update()
                ).all()
            }
            events: list[EventPayload] = []
            counted: Counter[str] = Counter()
            for message, result in results:
                row = rows.get(message.id)
                if row is None:
                    continue
                if result.status == "retry":
                    # refused for now and never handed over: queued again, as if untouched
                    row.status, row.gateway, row.updated_at = "queued", None, now
                    continue
                status = result.status if result.status in ("sent", "failed") else "unknown"
                row.status = status
                # a one-time code has gone (or may have): the log and its event keep it no more
                hidden = redacted(row.template, row.params)
                if hidden is not None:
                    row.body, row.params = hidden
                row.provider_sid = result.provider_sid
                row.error = result.error[:500] if result.error else None
                row.updated_at = now
                if status == "sent":
                    row.sent_at = now
                    events.append(
                        SmsSent(
                            message_id=message.id,
                            phone=row.phone,
                            body=row.body,
                            segments=row.segments,
                            gateway=self.gateway.name,
                            volunteer_id=row.volunteer_id,
                            assignment_id=row.assignment_id,
                        )
                    )
                elif status == "failed":
                    events.append(flows.failed_event(row, code=result.code))
                # "unknown": shown in the log, no event; a person decides whether to resend
                counted[status] += 1
            stage_many(session, events)
            session.commit()
        for status, n in counted.items():  # a label lookup per batch, not per message
            SMS_SENT.labels(status=status).inc(n)

    def mark_stuck_unknown(self) -> int:
        """Rows left in "sending" longer than `stale_after_s` (their sender died between the
        claim and the result) become "unknown"; they are never resent automatically."""
        cutoff = utcnow() - timedelta(seconds=self.stale_after_s)
        with Session(self.engine) as session:
            result = session.execute(
                sa_update(SmsMessage)
                .where(
                    col(SmsMessage.status) == "sending",
                    col(SmsMessage.updated_at) < cutoff,
                )
                .values(
                    status="unknown",
                    error="sender stopped while sending; not resent automatically",
                    updated_at=utcnow(),
                )
            )
            session.commit()
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.warning("%d SMS left in 'sending' marked unknown", count)
        return count
