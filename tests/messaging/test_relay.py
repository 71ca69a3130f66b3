"""The outbox relay against real RabbitMQ: every event once, in order, valid, and nothing lost in an outage."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from crm.app.events import sweep_outbox
from crm.infrastructure.db.pool import create_pool
from tests.apps import running_app
from tests.factories import make_client, make_deal, make_payment, make_policy, post_line
from tests.messaging.support import TcpProxy, consumer, eventually, host_port
from tests.outbox import all_published, all_settled, outbox_rows, outbox_rows_in_publishing_order

FLOW_KEYS = [
    "client.created",
    "deal.created",
    "policy.created",
    "deal.payment.created",
    "deal.payment.income.created",
    "deal.payment.updated",
]


async def broker_flow(api) -> None:
    """client → deal → policy → payment → income."""
    client = await make_client(api)
    deal = await make_deal(api, client_id=client["id"])
    policy = await make_policy(api, deal)
    payment = await make_payment(api, policy)
    await post_line(api, policy, payment, "incomes", "400.00")


async def test_every_event_of_a_flow_reaches_the_exchange_once_in_order_as_a_cloudevent(
    db, event_settings, broker_url, exchange_name
):
    async with consumer(broker_url, exchange_name) as queue, running_app(event_settings) as (_, api):
        before = (await api.get("/readyz")).json()["components"]["broker"]
        await broker_flow(api)
        await eventually(lambda: all_published(db), message="outbox published")
        rows = await outbox_rows_in_publishing_order(db)
        messages = await queue.wait_for(len(rows))
        await queue.quiet()
        after = (await api.get("/readyz")).json()["components"]["broker"]

    # Nothing to publish yet is not a broker problem; after publishing, the lead reports its connection.
    assert before["ok"] is True and before["configured"] is True
    assert after | {"last_published_at": None} == after | {
        "ok": True,
        "connected": True,
        "relay": "lead",
        "backlog": 0,
        "published": len(rows),
        "last_error": None,
        "last_published_at": None,
    }

    assert [r["routing_key"] for r in rows] == FLOW_KEYS
    assert [m.routing_key for m in messages] == FLOW_KEYS
    assert [m.message_id for m in messages] == [str(r["event_id"]) for r in rows]
    assert [r["sequence"] for r in rows] == sorted(r["sequence"] for r in rows)
    assert all(r["published"] and r["last_error"] is None for r in rows)
    for message, row in zip(messages, rows, strict=True):
        # The SDK validates the required attributes and their formats as it reads.
        event = JSONFormat().read(CloudEvent, message.body)
        attributes = event.get_attributes()
        assert attributes["specversion"] == "1.0"
        assert attributes["id"] == str(row["event_id"])
        assert attributes["source"] == "crm.deals"
        assert attributes["type"] == "crm." + row["routing_key"]
        assert attributes["subject"] == str(row["aggregate_id"])
        assert attributes["datacontenttype"] == "application/json"
        assert message.content_type == "application/cloudevents+json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.type == attributes["type"]
        assert message.timestamp is not None
        assert message.headers["ce-specversion"] == "1.0"
        assert message.headers["ce-id"] == attributes["id"]
        assert message.headers["ce-type"] == attributes["type"]
        assert message.headers["ce-source"] == "crm.deals"
        assert message.headers["x-trace-id"]
    income = JSONFormat().read(CloudEvent, messages[4].body).get_data()
    assert income["income"]["amount"] == "400.00"


async def test_a_broker_outage_delays_events_and_loses_none(db, event_settings, broker_url, exchange_name):
    proxy = TcpProxy(*host_port(broker_url, 5672))
    await proxy.start()
    settings = event_settings.model_copy(update={"rabbitmq_url": proxy.url(broker_url)})
    async with consumer(broker_url, exchange_name) as queue, running_app(settings) as (_, api):
        client = await make_client(api)
        await queue.wait_for(1)

        await proxy.cut()
        deal = await make_deal(api, client_id=client["id"])
        policy = await make_policy(api, deal)
        payment = await make_payment(api, policy)
        response = await api.post(
            f"/api/v1/deals/{deal['id']}/policies/{policy['id']}/payments/{payment['id']}/incomes",
            json={"amount": "400.00", "category": "premium", "posted_at": "2026-01-10"},
        )
        assert response.status_code == 201, response.text

        async def outage_reported() -> bool:
            return (await api.get("/readyz")).json()["components"]["broker"]["last_error"] is not None

        await eventually(outage_reported, message="failed attempts reported while the broker is away")
        ready = (await api.get("/readyz")).json()
        assert ready["status"] == "ready"
        assert ready["components"]["broker"]["ok"] is False
        assert ready["components"]["broker"]["backlog"] >= 1
        assert len(queue.messages) == 1
        # The cursor stays behind the first event the broker did not take.
        assert [r["published"] for r in await outbox_rows_in_publishing_order(db)] == [True] + [False] * 5

        await proxy.restore()
        await eventually(lambda: all_published(db), timeout=30, message="caught up after the outage")
        rows = await outbox_rows_in_publishing_order(db)
        await queue.wait_for(len(rows))
        await queue.quiet()
        await proxy.cut()

    # At least once: a confirm lost with the connection may repeat a message, never drop one.
    received = [m.message_id for m in queue.messages]
    first_seen = list(dict.fromkeys(received))
    assert first_seen == [str(r["event_id"]) for r in rows]
    assert [r["routing_key"] for r in rows] == FLOW_KEYS


async def test_two_relays_at_once_publish_each_event_once(db, event_settings, broker_url, exchange_name):
    async with (
        consumer(broker_url, exchange_name) as queue,
        running_app(event_settings) as (first_app, api),
        running_app(event_settings) as (second_app, _),
    ):
        for _ in range(3):
            await broker_flow(api)
        await eventually(lambda: all_published(db), message="outbox published")
        rows = await outbox_rows_in_publishing_order(db)
        await queue.wait_for(len(rows))
        await queue.quiet()
        roles = sorted(a.state.events.relay.state.role for a in (first_app, second_app))

    assert roles == ["lead", "standby"]
    assert [m.message_id for m in queue.messages] == [str(r["event_id"]) for r in rows]


async def test_the_standby_relay_takes_over_when_the_lead_stops(db, event_settings, broker_url, exchange_name):
    async with consumer(broker_url, exchange_name) as queue, running_app(event_settings) as (_, api):
        async with running_app(event_settings):
            await make_client(api)
            await queue.wait_for(1)
        # One of the two has stopped; whichever leads now publishes the next event.
        await make_client(api)
        await queue.wait_for(2)
        await queue.quiet()
    assert len({m.message_id for m in queue.messages}) == len(queue.messages) == 2


async def test_events_written_while_no_relay_runs_are_published_by_the_worker_sweep(
    db, api, event_settings, database_url, broker_url, exchange_name
):
    # The shared `api` app runs no relay: its events wait in the outbox.
    await broker_flow(api)
    rows = await outbox_rows_in_publishing_order(db)
    assert not any(r["published"] for r in rows)
    await eventually(lambda: all_settled(db), message="every event settled")
    pool = await create_pool(database_url, min_size=1, max_size=2, command_timeout=10)
    try:
        async with consumer(broker_url, exchange_name) as queue:
            published = await sweep_outbox(pool, event_settings)
            await queue.wait_for(len(rows))
            await queue.quiet()
            again = await sweep_outbox(pool, event_settings)
    finally:
        await pool.close()
    assert published == len(rows) == len(FLOW_KEYS)
    assert again == 0
    assert [m.routing_key for m in queue.messages] == FLOW_KEYS


async def test_an_event_no_queue_is_bound_for_is_marked_published_with_a_note(
    db, event_settings, broker_url, exchange_name
):
    async with (
        consumer(broker_url, exchange_name, binding="deal.#") as queue,
        running_app(event_settings) as (_, api),
    ):
        await make_deal(api)
        await eventually(lambda: all_published(db), message="outbox published")
        await queue.wait_for(1)
        await queue.quiet()
    rows = {r["routing_key"]: r for r in await outbox_rows_in_publishing_order(db)}
    assert rows["client.created"]["last_error"].startswith("unroutable")
    assert rows["deal.created"]["last_error"] is None
    assert [m.routing_key for m in queue.messages] == ["deal.created"]


async def test_the_api_keeps_answering_when_the_broker_url_points_nowhere(db, event_settings):
    settings = event_settings.model_copy(update={"rabbitmq_url": "amqp://guest:guest@127.0.0.1:1/"})
    async with running_app(settings) as (_, api):
        client = await make_client(api, name=f"Nowhere {uuid.uuid4().hex[:6]}")
        assert client["id"]
        await asyncio.sleep(0.5)
        ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert [r["published"] for r in await outbox_rows(db)] == [False]


async def test_notify_wakes_the_relay_long_before_its_poll_timer(db, event_settings, broker_url, exchange_name):
    settings = event_settings.model_copy(update={"relay_poll_interval": 60.0})
    async with consumer(broker_url, exchange_name) as queue, running_app(settings) as (_, api):
        await asyncio.sleep(0.3)
        await make_client(api, name="Wakes the relay")
        await queue.wait_for(1, timeout=5)
        # Written within 50 ms of the first one's NOTIFY, so without one of its own: the relay's follow-up
        # look one window after a productive round must find it.
        await make_client(api, name="Within the window")
        await queue.wait_for(2, timeout=5)
        await asyncio.gather(*(make_client(api, name=f"Burst {n}") for n in range(12)))
        await queue.wait_for(14, timeout=5)
