"""The parts of a running Nuanliu and their lifecycle: broker (embedded or external), schema,
outbox relay, consumers, SMS sender and scheduler. `nuanliu run` starts them all in one
process; `nuanliu api` and `nuanliu worker NAME` start a few.

`Runtime.start` builds the process's one :class:`~coordinator.process.Services` and hands it
to every part that needs it: the consumers (each handler's `ctx.services`), the scheduler's
jobs (`services.jobs`) and the app (`nuanliu.app.create_app` puts it on `app.state`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session

from consumers import consumer_tables
from consumers.redrive import prune, redrive, scan, settle
from consumers.registry import Handlers
from consumers.runner import ConsumerRunner, RunnerConfig
from coordinator.config import Settings
from coordinator.db import make_engine
from coordinator.process import Services
from coordinator.scheduling import NoTimers, Timers
from coordinator.sms.gateways import Gateway, make_gateway
from coordinator.sms.ratelimit import TokenBucket
from coordinator.sms.sender import Sender
from coordinator.sms.service import unsent_count
from events.bus import ensure_topics, wait_for_broker
from events.embedded import EmbeddedBroker
from events.metrics import BROKER_RESTARTS, BROKER_RSS, EVENTS_REDRIVEN
from events.outbox import Relay, pending_count
from events.topics import all_topic_names
from nuanliu import scheduler as scheduling
from nuanliu.schema import migrate

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    relay: bool = True
    consumers: Iterable[str] = ()
    scheduler: bool = False
    engine: Engine | None = None
    bootstrap: str | None = None
    broker: EmbeddedBroker | None = None
    #: the SMS provider to deliver with (tests pass a fake); else `NUANLIU_SMS_GATEWAY`'s
    sms_gateway: Gateway | None = None
    runners: dict[str, ConsumerRunner] = field(default_factory=dict)
    _services: Services | None = None
    _relay: Relay | None = None
    _sms_sender: Sender | None = None
    _scheduler: BackgroundScheduler | None = None
    _keeper: OutboxKeeper | None = None
    #: times the embedded broker was restarted empty (see `rotate_broker`)
    broker_restarts: int = 0
    #: set by a second signal: stop now, without waiting for work in hand
    force: threading.Event = field(default_factory=threading.Event)
    #: held while the parts are swapped (`rotate_broker`) or stopped, so the keeper's
    #: rotation and a shutdown never work on the same runners at once
    _parts: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopping: bool = field(default=False, repr=False)

    @property
    def services(self) -> Services:
        """This process's services (built by `start`)."""
        if self._services is None:
            raise RuntimeError("the runtime is not started")
        return self._services

    def start(self) -> Runtime:
        """Start every part; raises with a one-line message if the database or broker is bad."""
        self._stopping = False
        settings = self.settings
        if "notify" in self.consumers and self.sms_gateway is None:
            # first: a provider without its template codes refuses here, in one line, before
            # anything (the embedded broker) is started that would need stopping
            self.sms_gateway = make_gateway(settings)
        if self.engine is None:
            self.engine = make_engine(settings)
        migrate(self.engine)
        if self.bootstrap is None:
            if settings.embedded_broker:
                self.broker = EmbeddedBroker(
                    log_path=settings.data_dir / "broker.log" if settings.data_dir else None
                ).start()
                self.bootstrap = self.broker.bootstrap
            else:
                assert settings.kafka_bootstrap_servers
                self.bootstrap = settings.kafka_bootstrap_servers
                wait_for_broker(
                    self.bootstrap,
                    settings.broker_connect_timeout_s,
                    stalled_s=settings.broker_stall_timeout_s,
                )
        ensure_topics(
            self.bootstrap,
            all_topic_names(settings.topic_prefix),
            timeout_s=settings.broker_stall_timeout_s,
        )
        self._services = self._build_services()
        if self.broker is not None and self.relay:
            # a new embedded broker is empty: whatever it held when the last process died is
            # owed again, and goes out (in order) before anything new
            self._redrive()
        if self.relay:
            self._start_relay()
        if self.services.sms_gateway is not None:
            self._start_sms_sender(self.services.sms_gateway)
        self._start_runners()
        if self._scheduler is not None:
            scheduling.install_jobs(self._scheduler, self.services.jobs)
            self._scheduler.start()
        if self.relay:
            self._keeper = OutboxKeeper(self).start()
        return self

    def _build_services(self) -> Services:
        """The one set of services of this process. The scheduler is made here, unstarted,
        so that the timers handlers set before it starts are kept (and stored) too."""
        assert self.engine is not None
        timers: Timers = NoTimers()
        if self.scheduler and self.settings.run_scheduler:
            self._scheduler = scheduling.make_scheduler(self.engine, self.settings)
            timers = scheduling.SchedulerTimers(self._scheduler)
        gateway = None
        if "notify" in self.consumers:  # the notify worker delivers the texts
            gateway = self.sms_gateway or make_gateway(self.settings)
        return Services(
            settings=self.settings, engine=self.engine, timers=timers, sms_gateway=gateway
        )

    def _stop_scheduler(self) -> None:
        if self._scheduler is not None:
            if self._scheduler.running:
                self._scheduler.shutdown(wait=True)
            self._scheduler = None

    def _redrive(self) -> int:
        assert self.engine is not None
        owed = redrive(self.engine, consumer_tables())
        EVENTS_REDRIVEN.inc(len(owed))
        return len(owed)

    def _start_relay(self) -> None:
        assert self.engine is not None and self.bootstrap is not None
        settings = self.settings
        self._relay = Relay(
            self.engine,
            self.bootstrap,
            settings.topic_prefix,
            batch_size=settings.relay_batch_size,
            idle_s=settings.relay_idle_s,
        )
        self._relay.start()

    def _start_runners(self) -> None:
        assert self.engine is not None
        tables = consumer_tables()
        config = self.runner_config()
        for name in self.consumers:
            if not tables[name].by_type:
                log.info("consumer %s handles no events yet; not started", name)
                continue
            runner = ConsumerRunner(
                tables[name],
                self.engine,
                config,
                services=self.services,
                group_suffix=self._group_suffix(tables[name]),
            )
            runner.start()
            self.runners[name] = runner

    def _stop_runners(self, timeout: float = 15.0) -> None:
        for runner in self.runners.values():
            runner.request_stop()  # all at once: each then leaves its group in parallel
        for runner in self.runners.values():
            runner.stop(timeout)
        self.runners.clear()

    def _start_sms_sender(self, gateway: Gateway) -> None:
        """The notify worker delivers queued SMS."""
        assert self.engine is not None
        # A real provider gets one message per claim: a crash then leaves at most the one
        # message in flight "unknown" (not a batch never attempted), and its provider id is
        # stored milliseconds after the provider answers, ahead of its delivery reports. The
        # console batches for speed.
        console = getattr(gateway, "name", "") == "console"
        settings = self.settings
        self._sms_sender = Sender(
            self.engine,
            gateway,
            batch_size=100 if console else settings.sms_claim_batch,
            # a provider's account is rate-limited; the console is not
            bucket=None if console else TokenBucket(settings.sms_qps),
            attempts=settings.sms_send_attempts,
            retry_base_s=settings.sms_retry_base_s,
        ).start()

    def runner_config(self) -> RunnerConfig:
        assert self.bootstrap
        return RunnerConfig(
            bootstrap=self.bootstrap,
            prefix=self.settings.topic_prefix,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_ms=self.settings.consumer_heartbeat_ms,
            max_event_bytes=self.settings.max_event_bytes,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
        )

    @staticmethod
    def _group_suffix(handlers: Handlers) -> str:
        # The board pushes to the browsers connected to *this* process, so every API process
        # needs every board event: its own group, not a share of one.
        if handlers.per_process:
            return f".{socket.gethostname()}.{os.getpid()}"
        return ""

    def rotate_broker(self) -> int:
        """Give the embedded broker's memory back: stop the relay and consumers, restart the
        broker empty on the same port, redrive what is still owed, start them again. The API
        keeps answering meanwhile (events wait in the outbox). Returns events redriven; 0 when
        the runtime is stopping (the next start redrives anyway)."""
        with self._parts:
            if self._stopping or self.broker is None:
                return 0
            return self._rotate_broker()

    def _rotate_broker(self) -> int:
        assert self.broker is not None and self.bootstrap is not None
        log.info("restarting the embedded broker to give back %d MB", self.broker.rss_bytes() >> 20)
        self._stop_runners()
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        self.broker.restart()
        ensure_topics(
            self.bootstrap,
            all_topic_names(self.settings.topic_prefix),
            timeout_s=self.settings.broker_stall_timeout_s,
        )
        owed = self._redrive()
        self._start_relay()
        self._start_runners()
        BROKER_RESTARTS.inc()
        self.broker_restarts += 1
        return owed

    def quiet(self) -> bool:
        """Nothing left to do in this process: no event waits to be published or applied,
        no text waits to be sent."""
        assert self.engine is not None
        with Session(self.engine) as session:
            if self._relay is not None and pending_count(session):
                return False
            mine = set(self.runners)
            if mine and any(mine & set(o.consumers) for o in scan(session, consumer_tables()).owed):
                return False
            return not (self._sms_sender is not None and unsent_count(session=session))

    def drain(self, deadline_s: float | None = None) -> bool:
        """Stop taking scheduled work, then let the relay publish what is committed, the
        consumers apply what was published and the sender send what is queued, until all is
        quiet, `deadline_s` passes or `force` is set. Returns whether it became quiet."""
        self._stop_scheduler()
        deadline = time.monotonic() + (
            self.settings.shutdown_grace_s if deadline_s is None else deadline_s
        )
        while not self.force.is_set():
            try:
                if self.quiet():
                    return True
            except Exception:  # the database went away: nothing more to drain
                log.warning("shutdown: cannot tell whether work is left", exc_info=True)
                return False
            if time.monotonic() >= deadline:
                log.warning(
                    "shutdown: work left after %.0f s; it is redriven on the next start",
                    self.settings.shutdown_grace_s,
                )
                return False
            self.force.wait(0.5)  # each look scans the unsettled outbox
        return False

    def stop(self) -> None:
        """Stop in reverse order: keeper, scheduler, consumers (in-flight events finish or stay
        uncommitted), sender, relay, broker. Call `drain` first to finish the work in hand."""
        self._stopping = True  # a rotation that has not begun will not
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None
        with self._parts:  # wait for a rotation under way to finish
            self._stop_parts()

    def _stop_parts(self) -> None:
        self._stop_scheduler()
        self._stop_runners(2.0 if self.force.is_set() else 15.0)
        if self._sms_sender is not None:
            self._sms_sender.stop()
            self._sms_sender = None
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


class OutboxKeeper:
    """Runs beside the relay (one per deployment): every `keeper_interval_s` it settles the
    events every consumer has applied, prunes settled rows past the retention, reports the
    embedded broker's memory and, once that passes `broker_max_rss_mb` while nothing is owed,
    restarts the broker empty."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OutboxKeeper:
        self._thread = threading.Thread(target=self._run, name="outbox-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.runtime.settings.keeper_interval_s):
            try:
                self.once()
            except Exception:
                log.exception("outbox keeper failed; trying again later")

    def once(self) -> None:
        rt, settings = self.runtime, self.runtime.settings
        assert rt.engine is not None
        found = settle(rt.engine, consumer_tables())
        prune(rt.engine, older_than=settings.outbox_retention)
        if rt.broker is None:
            return
        rss = rt.broker.rss_bytes()
        BROKER_RSS.set(rss)
        if rss > settings.broker_max_rss_mb * 1024 * 1024 and not found.owed:
            with Session(rt.engine) as session:
                if pending_count(session):
                    return  # the relay is still sending; try again next round
            rt.rotate_broker()
            BROKER_RSS.set(rt.broker.rss_bytes())
