"""Redis killed (``kill -9``) while a dashboard follows the deal stream of another process: writes go on, and the
stream delivers the gap, in order, once Redis is back; a client that reconnects gets what it missed."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.auth import admin
from tests.factories import make_deal
from tests.faults.servers import OwnRedis, WriteLoad, within
from tests.messaging.support import open_stream, served_app
from tests.outbox import all_settled

pytestmark = pytest.mark.faults

DEAD_FOR = 2.0  # seconds Redis stays dead while the writers go on
RECOVERY_BOUND = 10.0  # seconds, from Redis's return, within which the stream delivers the gap


async def deal_events_after(db, sequence: int) -> list[int]:
    """Sequences of the deal events written after ``sequence``: what a stream client must receive."""
    rows = await db.fetch(
        "SELECT sequence FROM crm.outbox WHERE aggregate_type = 'deal' AND sequence > $1 ORDER BY sequence", sequence
    )
    return [row["sequence"] for row in rows]


async def test_a_redis_killed_with_a_stream_open_delivers_the_gap_in_order_once_it_is_back(
    db, fault_settings, tmp_path, report
):
    redis = OwnRedis(tmp_path / "redis")
    try:
        await redis.start()
        # The lead numbers events and fans them out through this Redis; the follower streams what Redis brings.
        lead = fault_settings.model_copy(update={"redis_url": redis.url, "rabbitmq_url": None})
        follower = lead.model_copy(update={"relay_enabled": False})
        async with (
            served_app(lead) as lead_url,
            served_app(follower) as follower_url,
            open_stream(follower_url) as stream,
            httpx.AsyncClient(base_url=lead_url, timeout=10, headers=admin()) as api,
            httpx.AsyncClient(base_url=follower_url, timeout=10, headers=admin()) as follower_api,
        ):
            first = await make_deal(api)
            before = await stream.next()
            assert before.cloudevent["subject"] == first["id"]

            redis.kill()
            killed_at = time.monotonic()
            load = WriteLoad(lead_url, writers=10)
            async with load.running():
                await asyncio.sleep(DEAD_FOR / 2)
                away = (await follower_api.get("/readyz")).json()
                await asyncio.sleep(DEAD_FOR / 2)
                await redis.start()
                back_at = time.monotonic()
                await asyncio.sleep(0.5)  # writers go on with Redis back
            # Every write has committed and settled: the stream owes exactly these.
            await within(lambda: all_settled(db), 10, "all settled")
            owed = await deal_events_after(db, int(before.id or 0))
            caught_up = []
            for _ in owed:
                caught_up.append(await stream.next(timeout=RECOVERY_BOUND))
            recovery = time.monotonic() - back_at
            await stream.nothing_more()
            back = (await follower_api.get("/readyz")).json()

            # A dashboard that lost its connection meanwhile comes back with the last id it saw.
            async with open_stream(follower_url, **{"Last-Event-ID": str(before.id)}) as again:
                missed = [await again.next() for _ in owed]
                await again.nothing_more()
    finally:
        redis.close()

    report(
        "redis-outage",
        requests=load.requests,
        statuses=load.statuses_by_code(),
        transport_errors=dict(load.transport_errors),
        deal_events_while_away_or_after=len(owed),
        streamed_after_recovery=len(caught_up),
        replayed_on_reconnect=len(missed),
        dead_s=round(back_at - killed_at, 2),
        recovery_s=round(recovery, 2),
        readyz_redis_while_away=away["components"]["redis"],
    )
    assert load.transport_errors == {} and set(load.statuses) <= {201}, (load.statuses, load.problems[:3])
    assert len(load.created["deals"]) >= 5, "deals were written while Redis was away"
    assert away["status"] == "ready" and away["components"]["redis"]["ok"] is False
    assert back["components"]["redis"]["ok"] is True and back["components"]["redis"]["listening"] is True
    # Every event, once, in sequence order: the live stream and the replay alike.
    assert [int(e.id or 0) for e in caught_up] == owed
    assert [int(e.id or 0) for e in missed] == owed
    assert {e.cloudevent["subject"] for e in caught_up} >= set(load.created["deals"])
    assert recovery < RECOVERY_BOUND
