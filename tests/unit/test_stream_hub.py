"""The in-process hub of the deal stream: every listener gets every event, and a slow one is told to resync."""

from __future__ import annotations

import asyncio
import uuid

from crm.domain.streams import Resync, StreamedEvent, StreamFilter
from crm.infrastructure.events.stream import QUEUE_SIZE, LocalHub, _decode, _encode

DEAL = uuid.uuid4()


def event(sequence: int, key: str = "deal.updated", deal: uuid.UUID = DEAL) -> StreamedEvent:
    return StreamedEvent(sequence=sequence, routing_key=key, aggregate_id=deal, cloudevent='{"id": "x"}')


async def test_every_listener_gets_every_event_in_order():
    hub = LocalHub()
    async with hub.subscribe() as first, hub.subscribe() as second:
        hub.deliver([event(1), event(2)])
        assert [await first.next(), await first.next()] == [event(1), event(2)]
        assert [await second.next(), await second.next()] == [event(1), event(2)]
    assert hub.listeners == 0


async def test_a_listener_that_falls_too_far_behind_gets_a_resync_instead_of_the_backlog():
    hub = LocalHub()
    async with hub.subscribe() as slow:
        hub.deliver([event(n) for n in range(1, QUEUE_SIZE + 2)])
        assert await slow.next() == Resync()
        hub.deliver([event(QUEUE_SIZE + 2)])
        assert await slow.next() == event(QUEUE_SIZE + 2)


async def test_resync_reaches_every_listener():
    hub = LocalHub()
    async with hub.subscribe() as listener:
        hub.resync()
        assert await listener.next() == Resync()


def test_redis_messages_carry_events_unchanged():
    events = [event(7, "deal.created"), event(8, "deal.payment.updated", uuid.uuid4())]
    assert _decode(_encode(events)) == events


def test_filter_by_deal_and_type():
    other = uuid.uuid4()
    wanted = StreamFilter(deal_ids=frozenset({DEAL}), types=frozenset({"deal.updated"}))
    assert wanted.matches(event(1))
    assert not wanted.matches(event(2, deal=other))
    assert not wanted.matches(event(3, key="deal.created"))
    assert StreamFilter().matches(event(4, key="deal.created", deal=other))


async def test_a_closed_subscription_answers_none_even_to_a_waiting_reader():
    hub = LocalHub()
    async with hub.subscribe() as listener:
        waiting = asyncio.create_task(listener.next())
        await asyncio.sleep(0)
        listener.close()
        assert await waiting is None
        hub.deliver([event(1)])
        assert await listener.next() is None
