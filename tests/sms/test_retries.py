"""Rate limits and failures through a real provider SDK and its stand-in: a token bucket per
account, throttled texts tried again with backoff and never sent twice, texts whose fate is
unknown never tried again, permanent refusals failed with the provider's code."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.standins import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    SIGN_NAME,
    AliyunStandIn,
    approved_codes,
    approved_variables,
    serving,
)
from coordinator.sms.aliyun import AliyunGateway
from coordinator.sms.models import SmsMessage
from coordinator.sms.ratelimit import TokenBucket
from coordinator.sms.sender import Sender
from coordinator.sms.service import queue_template
from events.outbox import OutboxEvent


@pytest.fixture
def aliyun() -> Iterator[AliyunStandIn]:
    with serving(AliyunStandIn(approved_variables("aliyun"))) as server:
        yield server  # type: ignore[misc]


def gateway(server: AliyunStandIn, timeout_s: float = 5.0) -> AliyunGateway:
    return AliyunGateway(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        sign_name=SIGN_NAME,
        codes=approved_codes("aliyun"),
        endpoint=server.endpoint,
        timeout_s=timeout_s,
    )


def queue(engine: Engine, n: int, *, kind: str = "expired", assignment_id: int | None = None):
    with Session(engine) as s:
        for i in range(n):
            queue_template(
                session=s,
                phone=f"+86138{i:08d}",
                template="expired",
                kind=kind,
                assignment_id=assignment_id,
                task=f"除冰{i}",
            )
        s.commit()


def rows(engine: Engine) -> list[SmsMessage]:
    with Session(engine) as s:
        return list(s.exec(select(SmsMessage).order_by(col(SmsMessage.id))).all())


def failed_events(engine: Engine) -> list[dict]:
    with Session(engine) as s:
        found = s.exec(select(OutboxEvent).where(OutboxEvent.type == "nuanliu.sms.failed"))
        return [json.loads(e.data) for e in found.all()]


def test_the_bucket_keeps_to_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(10, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]  # the burst
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)  # each waits its turn
    now[0] = 1.0
    assert bucket.reserve() == 0  # refilled, up to the burst
    with pytest.raises(ValueError):
        TokenBucket(0)
    stop = threading.Event()
    stop.set()
    slow = TokenBucket(0.5, burst=1)
    assert slow.acquire(stop) is True  # a token was there
    assert slow.acquire(stop) is False  # none: stopping instead of waiting two seconds


def test_throttled_texts_are_tried_again_and_sent_once(
    aliyun: AliyunStandIn, engine: Engine
) -> None:
    queue(engine, 1)
    aliyun.script = ["throttle", "throttle"]
    sender = Sender(engine, gateway(aliyun), batch_size=1, attempts=5, retry_base_s=0.01)
    assert sender.run_once() == 1
    [row] = rows(engine)
    assert row.status == "sent" and row.provider_sid
    assert sender.retries == 2 and aliyun.refusals == ["Throttling.User"] * 2
    assert len(aliyun.accepted) == 1


def test_out_of_tries_the_text_fails_with_the_code(aliyun: AliyunStandIn, engine: Engine) -> None:
    queue(engine, 1, kind="offer", assignment_id=42)
    aliyun.mode = "throttle"
    sender = Sender(engine, gateway(aliyun), batch_size=1, attempts=3, retry_base_s=0.01)
    started = time.monotonic()
    sender.run_once()
    assert time.monotonic() - started >= 0.03  # 0.01 then 0.02: it backed off
    [row] = rows(engine)
    assert row.status == "failed" and "gave up after 3 tries" in (row.error or "")
    assert "Throttling.User" in (row.error or "") and len(aliyun.requests) == 3
    [event] = failed_events(engine)
    assert (event["code"], event["kind"], event["assignment_id"]) == (
        "Throttling.User",
        "offer",
        42,
    )


def test_a_permanent_refusal_is_failed_at_once_with_the_code_on_the_board(
    aliyun: AliyunStandIn, engine: Engine
) -> None:
    queue(engine, 1, kind="offer", assignment_id=7)
    aliyun.mode = "balance"
    Sender(engine, gateway(aliyun), batch_size=1, attempts=5, retry_base_s=0.01).run_once()
    [row] = rows(engine)
    assert row.status == "failed" and row.error.startswith("isv.AMOUNT_NOT_ENOUGH")  # type: ignore[union-attr]
    assert len(aliyun.requests) == 1
    [event] = failed_events(engine)
    # the board shows an sms.failed event's error: the provider's code is in it
    assert event["error"].startswith("isv.AMOUNT_NOT_ENOUGH") and event["assignment_id"] == 7


def test_a_timeout_is_unknown_and_never_tried_again(aliyun: AliyunStandIn, engine: Engine) -> None:
    queue(engine, 1)
    aliyun.mode = "slow"
    sender = Sender(engine, gateway(aliyun, timeout_s=0.3), batch_size=1, attempts=5)
    sender.run_once()
    assert sender.run_once() == 0
    [row] = rows(engine)
    assert row.status == "unknown" and len(aliyun.requests) == 1 and sender.retries == 0


def test_stopping_during_a_backoff_gives_the_text_back_unsent(
    aliyun: AliyunStandIn, engine: Engine
) -> None:
    queue(engine, 1)
    aliyun.mode = "throttle"
    sender = Sender(engine, gateway(aliyun), batch_size=1, attempts=5, retry_base_s=5.0)
    done = threading.Thread(target=sender.run_once)
    done.start()
    deadline = time.monotonic() + 5
    while not aliyun.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    sender._stop.set()
    done.join(5)
    assert not done.is_alive()
    [row] = rows(engine)
    assert (row.status, row.gateway) == ("queued", None)  # nothing went out: queued again
    aliyun.mode = "ok"
    assert Sender(engine, gateway(aliyun), batch_size=1).run_once() == 1
    assert rows(engine)[0].status == "sent" and len(aliyun.accepted) == 1


def test_a_provider_limit_with_and_without_the_bucket(
    aliyun: AliyunStandIn, engine: Engine
) -> None:
    """Without the bucket the provider throttles and the retries carry the texts through;
    with it at the provider's rate it (almost) never does. Either way each text once."""
    aliyun.qps = 2  # far below what one sender does, on any database
    queue(engine, 6)
    eager = Sender(engine, gateway(aliyun), batch_size=1, attempts=20, retry_base_s=0.02)
    while eager.run_once():
        pass
    assert eager.retries > 0 and "Throttling.User" in aliyun.refusals
    first = Counter(t["params"]["task"] for t in aliyun.accepted)
    assert len(first) == 6 and set(first.values()) == {1}

    aliyun.accepted.clear()
    aliyun.refusals.clear()
    time.sleep(1.1)  # the provider's bucket refills
    queue(engine, 6)
    polite = Sender(
        engine,
        gateway(aliyun),
        batch_size=1,
        attempts=20,
        retry_base_s=0.02,
        bucket=TokenBucket(1.8, burst=1),
    )
    started = time.monotonic()
    while polite.run_once():
        pass
    assert time.monotonic() - started >= 5 / 1.8 * 0.9  # it kept to its rate
    assert polite.retries <= 1 and aliyun.refusals.count("Throttling.User") <= 1
    second = Counter(t["params"]["task"] for t in aliyun.accepted)
    assert len(second) == 6 and set(second.values()) == {1}
    assert {r.status for r in rows(engine)} == {"sent"}


def test_the_stale_threshold_covers_every_try(engine: Engine, aliyun: AliyunStandIn) -> None:
    gw = gateway(aliyun, timeout_s=10.0)
    one = Sender(engine, gw, batch_size=1, attempts=1)
    five = Sender(engine, gw, batch_size=1, attempts=5, retry_base_s=1.0, max_wait_s=30)
    assert one.stale_after_s == 120.0
    # 5 tries × 10 s and waits of 1 + 2 + 4 + 8 s, twice over
    assert five.stale_after_s == max(120.0, 2 * (50 + 15))
