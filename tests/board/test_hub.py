"""The hub alone: bounded per-client buffers, a slow client dropped without slowing others,
Last-Event-ID replay from the ring, and a snapshot answer when replay is impossible."""

from __future__ import annotations

import asyncio
import threading

import pytest

from coordinator.board.hub import Hub


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_every_client_gets_every_event_in_order() -> None:
    async def main() -> None:
        hub = Hub()
        a, b = hub.attach(), hub.attach()
        for n in range(5):
            hub.publish({"n": n})
        await asyncio.sleep(0)
        assert [e.data["n"] for e in a.drain()] == [0, 1, 2, 3, 4]
        assert [e.data["n"] for e in b.drain()] == [0, 1, 2, 3, 4]

    run(main())


def test_slow_client_is_dropped_and_others_keep_everything() -> None:
    async def main() -> None:
        hub = Hub(client_buffer=10)
        slow, fast = hub.attach(), hub.attach()
        got: list[int] = []
        for n in range(50):
            hub.publish({"n": n})
            got += [e.data["n"] for e in fast.drain()]  # the fast one keeps up
        assert got == list(range(50))
        assert slow.dropped and not fast.dropped
        assert slow.drain() == []  # its buffer was freed
        assert hub.client_count == 1 and hub.dropped_clients == 1

    run(main())


def test_publish_from_another_thread_wakes_the_waiting_client() -> None:
    async def main() -> None:
        hub = Hub()
        client = hub.attach()
        threading.Timer(0.05, lambda: hub.publish({"n": 1})).start()
        await client.wait(5.0)
        assert [e.data for e in client.drain()] == [{"n": 1}]

    run(main())


def test_publish_never_blocks_on_clients() -> None:
    async def main() -> None:
        hub = Hub(client_buffer=5)
        for _ in range(100):
            hub.attach()  # nobody drains
        for n in range(1000):
            hub.publish({"n": n})
        assert hub.client_count == 0 and hub.dropped_clients == 100
        assert hub.published == 1000

    run(main())


def test_last_event_id_replays_what_was_missed() -> None:
    async def main() -> None:
        hub = Hub(ring_size=100)
        events = [hub.publish({"n": n}) for n in range(10)]
        client, replay, newest = hub.attach_after(events[6].id)
        assert replay is not None and [e.data["n"] for e in replay] == [7, 8, 9]
        assert newest == events[-1].id
        hub.publish({"n": 10})
        assert [e.data["n"] for e in client.drain()] == [10]
        _, up_to_date, _ = hub.attach_after(hub.last_id)
        assert up_to_date == []

    run(main())


@pytest.mark.parametrize(
    "last_id",
    [None, "", "otherboot-3", "garbage", "-", "BOOT-abc", "BOOT-999999", "BOOT-1"],
)
def test_unreplayable_ids_ask_for_a_snapshot(last_id: str | None) -> None:
    async def main() -> None:
        hub = Hub(ring_size=5)
        for n in range(20):
            hub.publish({"n": n})
        wanted = last_id.replace("BOOT", hub.boot) if last_id else last_id
        _, replay, _ = hub.attach_after(wanted)
        assert replay is None  # unknown, another process's, in the future, or older than the ring

    run(main())


def test_close_all_ends_every_stream() -> None:
    async def main() -> None:
        hub = Hub()
        client = hub.attach()
        hub.close_all()
        await client.wait(5.0)
        assert client.closed and hub.client_count == 0

    run(main())


def test_board_consumer_follows_every_event_type_and_pushes_after_commit(settings) -> None:
    from unittest.mock import MagicMock

    from consumers.board import handlers
    from consumers.registry import Context
    from coordinator.process import Services
    from events.envelope import Envelope
    from events.payloads.incidents import IncidentClosed
    from events.registry import EVENT_TYPES

    assert set(handlers.by_type) == set(EVENT_TYPES)
    assert handlers.exactly_once is False
    payload = IncidentClosed(incident_id=7, reason="roads clear")
    services = Services(settings=settings, engine=MagicMock())
    ctx = Context(session=MagicMock(), envelope=Envelope.wrap(payload), services=services)
    handlers.by_type[payload.TYPE](ctx, payload)
    hub = services.board_hub
    assert hub.published == 0  # nothing before the commit
    for action in ctx._after_commit:
        action()
    assert hub.published == 1
    (event,) = hub._ring
    assert event.data["type"] == "nuanliu.incident.closed"
    assert event.data["subject"] == "7" and event.data["data"]["reason"] == "roads clear"


def test_the_feed_is_wanted_while_boards_watch_and_a_while_after() -> None:
    async def main() -> None:
        hub = Hub(linger_s=0.2)
        assert hub.wanted()  # a new process's feed joins its group first
        await asyncio.sleep(0.25)
        assert not hub.wanted()
        client = hub.attach()
        await asyncio.sleep(0.25)
        assert hub.wanted()  # a board is watching, however long
        hub.publish({"n": 1})
        seen = hub.last_id
        hub.detach(client)
        assert hub.wanted()  # a reload or a reconnect comes back within the linger
        await asyncio.sleep(0.25)
        assert not hub.wanted()
        hub.paused()
        assert not hub.live.is_set()
        hub.want()  # a board about to attach
        assert hub.wanted()
        hub.resumed()
        assert hub.live.is_set()
        # what happened while the feed was held is not in the ring: an id from before gets
        # a snapshot, never a replay with a gap in it
        _, replay, newest = hub.attach_after(seen)
        assert replay is None and newest != seen

    run(main())


def test_an_sms_event_has_a_masked_frame_and_others_one_frame() -> None:
    hub = Hub()
    text = hub.publish(
        {
            "type": "nuanliu.sms.sent",
            "id": "e1",
            "subject": "+8613812345678",
            "data": {"phone": "+8613812345678", "body": "hi"},
        }
    )
    assert "+8613812345678" in text.frame_for(masked=False)
    masked = text.frame_for(masked=True)
    assert "+8613812345678" not in masked and masked.count("+86 138****5678") == 2
    assert text.data["data"]["phone"] == "+8613812345678"  # the event itself is untouched
    other = hub.publish({"type": "nuanliu.task.planned", "id": "e2", "data": {"task_id": 1}})
    assert other.frame_for(masked=True) == other.frame_for(masked=False) == other.frame
