"""The inbound events consumer when its broker is killed (``kill -9``, a node of the test's own) and when its
crm-api process is killed: every confirmed event is journaled once in the end, none is dead-lettered."""

from __future__ import annotations

import time

import pytest

from tests.apps import running_app
from tests.faults.servers import CrmApi, OwnRabbitNode, within
from tests.inbound import cloudevent, depth, inbound_settings, journaled, message, publish, queues_of, topology

pytestmark = pytest.mark.faults

BEFORE, AFTER = 3000, 500


async def test_a_broker_killed_while_the_consumer_works_loses_no_event(settings, tmp_path, run_id, db, report):
    node = OwnRabbitNode(tmp_path / "rabbitmq")
    try:
        boot = await node.start()
        own = inbound_settings(settings, node.url, run_id)
        queues = queues_of(own)
        # The first connection dies with the node (its clean-up is skipped); the second one cleans up.
        async with topology(node.url, queues) as before:
            # A backlog first, so the node dies with events waiting and others held by the consumer.
            await publish(before, queues, [message(cloudevent(n=n)) for n in range(BEFORE)])
            async with running_app(own) as (app, api):
                progress = app.state.inbound_events.progress
                await within(lambda: _above(journaled(db), 0), 20, "the consumer at work", every=0.01)
                node.kill()
                killed_at, journaled_at_kill = time.monotonic(), await journaled(db)
                unhealthy = await api.get("/api/notifications/health")
                restart = await node.start()
                async with topology(node.url, queues) as channel:
                    # Messages confirmed before the kill are on the node's disk; these come after its return.
                    await publish(channel, queues, [message(cloudevent(n=n)) for n in range(AFTER)])
                    await within(lambda: _equal(journaled(db), BEFORE + AFTER), 60, "every event journaled")
                    recovered = time.monotonic() - killed_at
                    dead = await depth(channel, queues.dead_letters)
                    healthy = await api.get("/api/notifications/health")
    finally:
        node.close()
    report(
        "inbound-broker-outage",
        node_boot_s=round(boot, 2),
        node_restart_s=round(restart, 2),
        journaled_at_kill=journaled_at_kill,
        events=BEFORE + AFTER,
        connects=progress.connects,
        duplicates=progress.duplicates,
        recovered_s=round(recovered, 2),
    )
    assert journaled_at_kill < BEFORE, "the broker was killed before the consumer was done"
    assert dead == 0 and progress.dead_lettered == 0
    assert progress.connects >= 2, "the consumer connected again"
    assert unhealthy.status_code == 503 and unhealthy.headers["retry-after"]
    assert unhealthy.json()["code"] == "inbound_events_unavailable"
    assert healthy.status_code == 200 and healthy.json()["queue_depth"] == 0


async def test_a_crm_api_killed_while_consuming_loses_no_event(
    settings, broker_url, database_url, tmp_path, run_id, db, report
):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    api = CrmApi(
        tmp_path / "crm-api",
        database_url=database_url,
        rabbitmq_url=broker_url,
        relay_enabled="false",
        notifications_exchange=queues.exchange,
        notifications_queue_name=queues.queue,
    )
    async with topology(broker_url, queues) as channel:
        try:
            await publish(channel, queues, [message(cloudevent(n=n)) for n in range(BEFORE)])
            await api.start()
            await within(lambda: _above(journaled(db), 0), 30, "the consumer at work", every=0.01)
            api.kill()
            journaled_at_kill = await journaled(db)
            restart = await api.start()
            await within(lambda: _equal(journaled(db), BEFORE), 60, "every event journaled")
            dead = await depth(channel, queues.dead_letters)
        finally:
            api.close()
    report("inbound-crm-api-kill", journaled_at_kill=journaled_at_kill, events=BEFORE, restart_s=round(restart, 2))
    assert journaled_at_kill < BEFORE, "crm-api was killed before it was done"
    assert dead == 0


async def _above(count: object, floor: int) -> bool:
    return await count > floor  # type: ignore[misc, operator]


async def _equal(count: object, expected: int) -> bool:
    return await count == expected  # type: ignore[misc]
