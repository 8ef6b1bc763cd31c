"""Inbound texts written in batches: one transaction for every text that arrived while the
previous one was being written (group commit).

In a storm thousands of volunteers answer within minutes. Written one request at a time, each
text cost a worker thread, a pool checkout, several round trips and a commit of its own; here
the routes only check the text and wait (without a thread) while one writer thread stores all
the texts that are waiting, with one lookup per kind and one commit for all of them. A text is
answered only once its transaction has committed, so a 201 still means "stored".
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from coordinator.sms import flows
from coordinator.sms.models import SmsMessage

log = logging.getLogger(__name__)


class IntakeClosed(RuntimeError):
    """The intake is not running (the app is starting or stopping)."""


@dataclass
class _Waiting:
    received: flows.Received
    future: asyncio.Future[tuple[SmsMessage, bool]]
    loop: asyncio.AbstractEventLoop


class Intake:
    """The writer thread and the queue in front of it; one per API process."""

    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._open = False
        self._in_flight: list[_Waiting] = []
        #: batches written and texts in them, for the metrics and the tests
        self.batches = 0
        self.texts = 0

    def start(self) -> Intake:
        self._open = True
        self._thread = threading.Thread(target=self._run, name="sms-intake", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop; later calls to `receive` raise IntakeClosed."""
        self._open = False
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    async def receive(self, received: flows.Received) -> tuple[SmsMessage, bool]:
        """Store `received` (see `flows.receive_many`) and return its message and whether it
        is new, once committed. Raises what storing it raised, or IntakeClosed."""
        if not self._open or self._thread is None or not self._thread.is_alive():
            raise IntakeClosed("the SMS intake is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[SmsMessage, bool]] = loop.create_future()
        self._queue.put(_Waiting(received, future, loop))
        return await future

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            # stopped, or (a bug) died: nothing may wait for an answer that will never come
            self._open = False
            _settle([(item, IntakeClosed("the SMS intake stopped")) for item in self._in_flight])
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    _settle([(item, IntakeClosed("the SMS intake stopped"))])

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._in_flight = batch
            self._write(batch)
            self._in_flight = []

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                results = flows.receive_many(session=session, received=[w.received for w in batch])
        except Exception as exc:
            if len(batch) > 1:
                # one bad text must not fail the others: each on its own, with its own error
                log.warning("SMS intake: a batch of %d failed (%s); one by one", len(batch), exc)
                for waiting in batch:
                    self._write([waiting])
                return
            _settle([(batch[0], exc)])
            return
        self.batches += 1
        self.texts += len(batch)
        _settle(list(zip(batch, results, strict=True)))


def _settle(outcomes: list[tuple[_Waiting, Any]]) -> None:
    """Hand each result (or exception) to its request: one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Waiting, Any]]] = defaultdict(list)
    for waiting, outcome in outcomes:
        by_loop[waiting.loop].append((waiting, outcome))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, items)
        except RuntimeError:  # that loop is closed: its requests are gone
            log.debug("SMS intake: a request's event loop closed before its answer")


def _resolve(items: list[tuple[_Waiting, Any]]) -> None:
    for waiting, outcome in items:
        if waiting.future.done():  # the client went away
            continue
        if isinstance(outcome, BaseException):
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome)
