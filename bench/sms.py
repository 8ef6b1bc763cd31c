"""`nuanliu bench sms`: the SMS path and the roster import, in this process.

- sender: N offers queued in one transaction, then drained through a gateway that does
  nothing (so the numbers are the database work: claim, record, stage events). Claims of 50
  next to the naive baseline of one message per claim/record transaction.
- import: a 3,446-row roster CSV (the seed's volunteer count), validated and inserted, next
  to parsing its phone numbers alone (the floor: `phonenumbers` dominates).
- parser: replies per second over a realistic mix, next to plain NFKC normalisation.
- providers: N offers through the Aliyun and the Tencent gateway (their official SDKs) to a
  loopback stand-in limited to 500 QPS, one text per claim as `nuanliu run` sends: time to the
  last send, tries again, the provider's refusals and texts sent twice (none may be), with the
  account's token bucket at the provider's rate next to a sender without one.
Printed, never asserted. Uses a temporary SQLite file unless BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import delete
from sqlmodel import Session

import nuanliu.schema  # noqa: F401
from coordinator.config import Settings
from coordinator.db import make_engine
from coordinator.demo import DATA, load_places
from coordinator.geo.models import District
from coordinator.sms.gateways import SendResult
from coordinator.sms.models import SmsMessage
from coordinator.sms.replies import normalise, parse_reply
from coordinator.sms.sender import Sender
from coordinator.sms.service import queue_template
from coordinator.volunteers.importer import import_volunteers
from coordinator.volunteers.models import Volunteer
from coordinator.volunteers.service import normalise_phone
from events.outbox import OutboxEvent
from nuanliu.schema import migrate

SEED = 20140105


class NullGateway:
    name = "null"

    def send(self, to: str, body: str, **_: Any) -> SendResult:
        return SendResult("null", "sent")


def _queue(engine: Any, n: int) -> float:
    start = time.perf_counter()
    with Session(engine) as s:
        for i in range(n):
            queue_template(
                session=s,
                phone=f"+86138{i:08d}",
                template="offer",
                task="道路除冰",
                place="黔灵西路坡道",
                window="1月5日08:00-12:00",
                code="A7K",
                minutes=10,
            )
        s.commit()
    return time.perf_counter() - start


def _drain(engine: Any, batch: int) -> float:
    sender = Sender(engine, NullGateway(), batch_size=batch)
    start = time.perf_counter()
    while sender.run_once():
        pass
    return time.perf_counter() - start


def _reset(engine: Any) -> None:
    with Session(engine) as s:
        s.execute(delete(SmsMessage))
        s.execute(delete(OutboxEvent))
        s.execute(delete(Volunteer))
        s.commit()


def _roster_csv(n: int) -> tuple[bytes, list[str]]:
    rng = random.Random(SEED)
    districts = ["云岩区", "南明区", "花溪区", "乌当区", "白云区", "观山湖区", "清镇市"]
    skills = ["除冰", "急救", "助老", "driving", "traffic"]
    lines = ["name,phone,district,skills,language,team"]
    phones = []
    for i in range(n):
        phone = f"{rng.choice(DATA['mobile_prefixes'])}{rng.randrange(10**8):08d}"
        phones.append(phone)
        picked = "、".join(rng.sample(skills, rng.randint(0, 2)))
        lines.append(f"志愿者{i},{phone},{rng.choice(districts)},{picked},zh,")
    return ("\n".join(lines) + "\n").encode("utf-8"), phones


def run(quick: bool = False) -> None:
    console = Console()
    n = 500 if quick else 5000
    roster = 300 if quick else 3446
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(Settings(DATABASE_URL=url, NUANLIU_DATA_DIR=Path(tmp)))
        migrate(engine)
        with Session(engine) as s:
            if s.get(District, "520103") is None:
                load_places(s)
                s.commit()
        _reset(engine)
        table = Table(title=f"SMS and roster ({engine.dialect.name})")
        for column in ("what", "n", "seconds", "per second", "baseline", "ratio"):
            table.add_column(column, justify="right" if column != "what" else "left")

        queued = _queue(engine, n)
        drained = _drain(engine, 100)
        _reset(engine)
        small = min(n, 1000)  # the naive baseline is slow; its rate is what we compare
        _queue(engine, small)
        naive = _drain(engine, 1) / small * n
        _reset(engine)
        table.add_row(
            "queue offers (one transaction)", str(n), f"{queued:.2f}", f"{n / queued:,.0f}", "", ""
        )
        table.add_row(
            "drain, claims of 100",
            str(n),
            f"{drained:.2f}",
            f"{n / drained:,.0f}",
            f"{n / naive:,.0f}/s (claims of 1)",
            f"{naive / drained:.1f}x",
        )

        data, phones = _roster_csv(roster)
        start = time.perf_counter()
        for phone in phones:
            with contextlib.suppress(ValueError):
                normalise_phone(phone)
        floor = time.perf_counter() - start
        with Session(engine) as s:
            start = time.perf_counter()
            result = import_volunteers(session=s, data=data, filename="bench.csv")
            s.commit()
            took = time.perf_counter() - start
        table.add_row(
            f"import CSV ({result.created} created, {result.rejected} rejected)",
            str(roster),
            f"{took:.2f}",
            f"{roster / took:,.0f}",
            f"{floor:.2f} s (phones only)",
            f"{took / floor:.1f}x",
        )

        texts = [
            "1",
            "２",
            "A7K 1",
            "接受A7K",
            "好的",
            "不去",
            "TD",
            "收 S12 全",
            "我明天有空",
            "ＹＥＳ",
            "Stop.",
            "完成 C3M",
        ] * (200 if quick else 2000)
        start = time.perf_counter()
        for text in texts:
            parse_reply(text)
        parsed = time.perf_counter() - start
        start = time.perf_counter()
        for text in texts:
            normalise(text)
        norm = time.perf_counter() - start
        table.add_row(
            "parse replies",
            str(len(texts)),
            f"{parsed:.2f}",
            f"{len(texts) / parsed:,.0f}",
            f"{norm:.3f} s (NFKC only)",
            f"{parsed / norm:.1f}x",
        )
        console.print(table)
        _providers(engine, n, console)
        engine.dispose()


PROVIDER_QPS = 500


def _gateways(aliyun: Any, tencent: Any) -> list[tuple[str, Any, Any]]:
    from bench import standins
    from coordinator.sms.aliyun import AliyunGateway
    from coordinator.sms.tencent import TencentGateway

    return [
        (
            "aliyun",
            aliyun,
            AliyunGateway(
                access_key_id=standins.ALIYUN_KEY_ID,
                access_key_secret=standins.ALIYUN_SECRET,
                sign_name=standins.SIGN_NAME,
                codes=standins.approved_codes("aliyun"),
                endpoint=aliyun.endpoint,
            ),
        ),
        (
            "tencent",
            tencent,
            TencentGateway(
                secret_id=standins.TENCENT_SECRET_ID,
                secret_key=standins.TENCENT_SECRET,
                app_id=standins.TENCENT_APP_ID,
                sign_name=standins.SIGN_NAME,
                codes=standins.approved_codes("tencent"),
                endpoint=tencent.endpoint,
            ),
        ),
    ]


def _providers(engine: Any, n: int, console: Console) -> None:
    from collections import Counter

    from sqlalchemy import func, select

    from bench import standins
    from coordinator.sms.ratelimit import TokenBucket

    table = Table(
        title=f"Offers through each provider's SDK, stand-in limited to {PROVIDER_QPS} QPS"
    )
    for column in ("gateway", "claims of", "bucket", "n", "last send (s)", "per second"):
        table.add_column(column, justify="left" if column == "gateway" else "right")
    for column in ("retries", "throttled", "sent", "sent twice"):
        table.add_column(column, justify="right")
    small = min(n, 500)  # one text per claim is the database's pace: a sample is enough
    runs = [(50, True, n), (50, False, n), (1, True, small)]
    with (
        standins.serving(standins.AliyunStandIn(standins.approved_variables("aliyun"))) as a,
        standins.serving(standins.TencentStandIn(standins.approved_variables("tencent"))) as t,
    ):
        for name, server, gateway in _gateways(a, t):
            throttled = "Throttling.User" if name == "aliyun" else "RequestLimitExceeded"
            for claim, limited, count in runs:
                _reset(engine)
                server.accepted.clear()
                server.refusals.clear()
                server.qps = PROVIDER_QPS
                time.sleep(1.0)  # the provider's own bucket starts full
                _queue(engine, count)
                bucket = TokenBucket(PROVIDER_QPS, burst=PROVIDER_QPS / 10) if limited else None
                sender = Sender(
                    engine,
                    gateway,
                    batch_size=claim,
                    bucket=bucket,
                    attempts=8,
                    retry_base_s=0.05,
                )
                start = time.perf_counter()
                while sender.run_once():
                    pass
                took = time.perf_counter() - start
                per_phone = Counter(text["phone"] for text in server.accepted)
                with Session(engine) as s:
                    sent = s.execute(
                        select(func.count())
                        .select_from(SmsMessage)
                        .where(SmsMessage.status == "sent")  # type: ignore[arg-type]
                    ).scalar_one()
                table.add_row(
                    name,
                    str(claim),
                    f"{PROVIDER_QPS}/s" if limited else "none",
                    str(count),
                    f"{took:.2f}",
                    f"{count / took:,.0f}",
                    str(sender.retries),
                    str(server.refusals.count(throttled)),
                    f"{sent}/{count}",
                    str(sum(1 for c in per_phone.values() if c > 1)),
                )
    _reset(engine)
    console.print(table)
