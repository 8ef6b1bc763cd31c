"""The in-process fan-out from the board consumer (a Kafka thread) to the browsers connected to
this process (asyncio tasks, one per `/board/stream`).

Every client has its own bounded buffer. Publishing never blocks and never waits for a client:
a client whose buffer is full is dropped (its stream ends; the browser reconnects with
`Last-Event-ID` and catches up from the ring of recent events, or gets a fresh snapshot). So a
slow client never slows the consumer or the other clients.

Event ids are `<boot>-<seq>`: `boot` changes with every process, so an id from before a
restart is recognised as unknown and answered with a snapshot instead of a wrong replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coordinator.common import mask_phone

# Sized for a storm: a thousand events a second at 500 replies a second. Every client's buffer
# and the ring hold the same event objects (a pointer each), so depth costs little memory; a
# shallow buffer dropped a board whose stream fell half a second behind, and the snapshot it
# then needed cost more than the events it had missed.
#: events kept for Last-Event-ID replay (about 10 s at peak)
DEFAULT_RING = 10_000
#: events one client may fall behind before it is dropped (about 5 s at peak)
DEFAULT_CLIENT_BUFFER = 5_000
#: after the last board leaves, the feed goes on this long (a reload, a dropped connection)
#: before it stops consuming
LINGER_S = 30.0


@dataclass(frozen=True)
class BoardEvent:
    """One pushed event: the hub's id, and the compact JSON the browser gets (serialised once,
    however many clients receive it), whole for admins and with phone numbers masked
    (`masked_json`, the same string for events without one) for everyone else."""

    id: str
    seq: int
    data: dict[str, Any]
    json: str
    masked_json: str

    @property
    def frame(self) -> str:
        """The event in the text/event-stream format."""
        return sse_frame("board", self.id, self.json)

    def frame_for(self, *, masked: bool) -> str:
        return sse_frame("board", self.id, self.masked_json) if masked else self.frame


def masked_event(event: dict[str, Any]) -> dict[str, Any]:
    """`event` (the compact shape) as a board shows it to anyone but an admin: an SMS event's
    number masked, in its data and in its subject (which is the number). Others as they are."""
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("phone"), str):
        return event
    phone = data["phone"]
    subject = event.get("subject")
    return {
        **event,
        "subject": mask_phone(subject) if subject == phone else subject,
        "data": {**data, "phone": mask_phone(phone)},
    }


def _encode(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def sse_frame(event: str, event_id: str | None, data: str) -> str:
    """One server-sent event; `data` is one line of JSON (json.dumps never emits a newline)."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return f"{head}data: {data}\n\n"


@dataclass(eq=False)  # identity: every connection is its own client
class Client:
    """One connected stream. `wait()` and `drain()` run on the client's event loop; `offer()`
    runs on any thread."""

    loop: asyncio.AbstractEventLoop
    limit: int
    buffer: deque[BoardEvent] = field(default_factory=deque)
    dropped: bool = False
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: BoardEvent) -> bool:
        """Queue `event`; False (and the client is marked dropped) when the buffer is full."""
        with self._lock:
            if self.dropped or self.closed:
                return False
            # a non-empty buffer has a wake-up on its way already: one per batch, not per
            # event, keeps a burst from flooding the event loop with callbacks
            wake = not self.buffer
            if len(self.buffer) >= self.limit:
                self.dropped = True
                self.buffer.clear()
                wake = True
            else:
                self.buffer.append(event)
        if wake:
            self._wake()
        return not self.dropped

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self._wake()

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is gone: the client is gone too
            self.closed = True

    def drain(self) -> list[BoardEvent]:
        with self._lock:
            items = list(self.buffer)
            self.buffer.clear()
            self._ready.clear()
        return items

    async def wait(self, timeout: float) -> None:
        """Until something is queued, the client is dropped or closed, or `timeout` passes."""
        if self.buffer or self.dropped or self.closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)


class Hub:
    """The ring of recent board events and the set of connected clients (thread-safe)."""

    def __init__(
        self,
        *,
        ring_size: int = DEFAULT_RING,
        client_buffer: int = DEFAULT_CLIENT_BUFFER,
        linger_s: float = LINGER_S,
    ) -> None:
        self.boot = secrets.token_hex(4)
        #: when this process's feed began: browsers' snapshots from it include everything older
        self.started_at = datetime.now(UTC)
        self.linger_s = linger_s
        #: set while the feed consumes: only then is the ring complete and `last_id` the
        #: newest event (a stream waits for it before it attaches)
        self.live = threading.Event()
        self.live.set()
        self._wanted_at = time.monotonic()  # a new process's feed joins its group first
        self.client_buffer = client_buffer
        self._ring: deque[BoardEvent] = deque(maxlen=ring_size)
        self._clients: set[Client] = set()
        self._lock = threading.Lock()
        self._seq = 0
        self.published = 0
        self.dropped_clients = 0

    # -- the consumer side ------------------------------------------------------------------
    def publish(self, data: dict[str, Any]) -> BoardEvent:
        """Append to the ring and offer to every client; never blocks on a client."""
        encoded = _encode(data)
        masked = masked_event(data)
        masked_json = encoded if masked is data else _encode(masked)
        with self._lock:
            self._seq += 1
            event = BoardEvent(
                id=f"{self.boot}-{self._seq}",
                seq=self._seq,
                data=data,
                json=encoded,
                masked_json=masked_json,
            )
            self._ring.append(event)
            clients = list(self._clients)
            self.published += 1
        for client in clients:
            if not client.offer(event):
                self.detach(client)
                if client.dropped:
                    with self._lock:
                        self.dropped_clients += 1
        return event

    # -- the stream side --------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop | None = None) -> Client:
        client = Client(loop=loop or asyncio.get_running_loop(), limit=self.client_buffer)
        with self._lock:
            self._clients.add(client)
        return client

    def detach(self, client: Client) -> None:
        with self._lock:
            self._clients.discard(client)
            self._wanted_at = time.monotonic()

    # -- who watches: the feed consumes only while someone does (consumers.registry.Watch) ----
    def want(self) -> None:
        """A board is about to attach: keep (or get) the feed going."""
        self._wanted_at = time.monotonic()

    def wanted(self) -> bool:
        return self.client_count > 0 or time.monotonic() - self._wanted_at < self.linger_s

    def paused(self) -> None:
        self.live.clear()

    def resumed(self) -> None:
        """The feed consumes again from the newest events: what happened while it was held is
        in the snapshot of any board attaching from now on, never in the ring, so ids from
        before are made unknown (a board reconnecting with one gets a snapshot)."""
        with self._lock:
            self.boot = secrets.token_hex(4)
            self._ring.clear()
            self.started_at = datetime.now(UTC)
        self.live.set()

    def attach_after(
        self, last_event_id: str | None, loop: asyncio.AbstractEventLoop | None = None
    ) -> tuple[Client, list[BoardEvent] | None, str]:
        """Attach a client and return the events it missed since `last_event_id`, or None
        when they cannot be replayed (no id, another process's id, or older than the ring):
        the caller then sends a snapshot. Also returns the newest id at attach time (a
        snapshot taken now includes everything up to it). Attaching and reading the ring
        happen under one lock, so no event falls between the replay and the live stream."""
        client = Client(loop=loop or asyncio.get_running_loop(), limit=self.client_buffer)
        with self._lock:
            replay = self._replay_locked(last_event_id)
            self._clients.add(client)
            newest = f"{self.boot}-{self._seq}"
        return client, replay, newest

    def _replay_locked(self, last_event_id: str | None) -> list[BoardEvent] | None:
        if not last_event_id:
            return None
        boot, _, seq_text = last_event_id.partition("-")
        if boot != self.boot or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self._seq:
            return None
        if seq == self._seq:
            return []
        if not self._ring or self._ring[0].seq > seq + 1:
            return None  # the gap is older than the ring
        return [e for e in self._ring if e.seq > seq]

    @property
    def last_id(self) -> str:
        with self._lock:
            return f"{self.boot}-{self._seq}"

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def close_all(self) -> None:
        """End every stream (server shutdown), so uvicorn can stop."""
        with self._lock:
            clients = list(self._clients)
            self._clients.clear()
        for client in clients:
            client.close()
