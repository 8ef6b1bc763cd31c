"""The parts of a running Nuanliu and their lifecycle: broker (embedded or external), schema,
outbox relay, consumers and scheduler. `nuanliu run` starts them all in one process;
`nuanliu api` and `nuanliu worker NAME` start a few.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from consumers import consumer_tables
from consumers.registry import Handlers
from consumers.runner import ConsumerRunner, RunnerConfig
from coordinator import scheduler as scheduler_module
from coordinator.config import Settings
from coordinator.db import make_engine, migrate
from events.bus import ensure_topics, wait_for_broker
from events.embedded import EmbeddedBroker
from events.outbox import Relay
from events.topics import all_topic_names

log = logging.getLogger(__name__)

_current: Runtime | None = None


def current() -> Runtime:
    """The runtime of this process (scheduler jobs use it to find the engine)."""
    if _current is None:
        raise RuntimeError("Nuanliu's runtime is not started in this process")
    return _current


@dataclass
class Runtime:
    settings: Settings
    relay: bool = True
    consumers: Iterable[str] = ()
    scheduler: bool = False
    engine: Engine | None = None
    bootstrap: str | None = None
    broker: EmbeddedBroker | None = None
    runners: dict[str, ConsumerRunner] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    _relay: Relay | None = None
    _sms_sender: Any = None

    def start(self) -> Runtime:
        """Start every part; raises with a one-line message if the database or broker is bad."""
        global _current
        settings = self.settings
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
                wait_for_broker(self.bootstrap, settings.broker_connect_timeout_s)
        ensure_topics(self.bootstrap, all_topic_names(settings.topic_prefix))
        _current = self
        if self.relay:
            self._relay = Relay(
                self.engine,
                self.bootstrap,
                settings.topic_prefix,
                batch_size=settings.relay_batch_size,
                idle_s=settings.relay_idle_s,
            )
            self._relay.start()
        if "notify" in self.consumers:
            self._start_sms_sender()
        if "board" in self.consumers:
            # one hub per process, shared by the board consumer and the app's /board/stream;
            # made before the runners so they are handed this very dict (an empty one would
            # be replaced by the runner's own)
            from coordinator.board.hub import hub_for

            hub_for(self.services)
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
        if self.scheduler and settings.run_scheduler:
            scheduler_module.start(self.engine, settings)
        return self

    def _start_sms_sender(self) -> None:
        """The notify worker delivers queued SMS; handlers find the gateway in `services`."""
        from coordinator.sms.gateways import make_gateway
        from coordinator.sms.sender import Sender

        assert self.engine is not None
        gateway = self.services.get("sms_gateway") or make_gateway(self.settings)
        self.services["sms_gateway"] = gateway
        # A real provider gets one message per claim: a crash then leaves at most the one
        # message in flight "unknown" (not a batch never attempted), and its provider id is
        # stored milliseconds after the provider answers, ahead of its delivery reports. The
        # console batches for speed.
        batch = 100 if getattr(gateway, "name", "") == "console" else 1
        self._sms_sender = Sender(self.engine, gateway, batch_size=batch).start()
        self.services["sms_sender"] = self._sms_sender

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

    def stop(self) -> None:
        """Stop in reverse order: scheduler, consumers (in-flight events finish or stay
        uncommitted), relay, broker."""
        global _current
        scheduler_module.stop()
        for runner in self.runners.values():
            runner.request_stop()  # all at once: each then leaves its group in parallel
        for runner in self.runners.values():
            runner.stop()
        self.runners.clear()
        if self._sms_sender is not None:
            self._sms_sender.stop()
            self._sms_sender = None
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if _current is self:
            _current = None
