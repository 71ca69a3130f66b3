"""What /metrics says of a relay that publishes to real RabbitMQ, and the caller's W3C traceparent carried from the
request through the outbox row and the CloudEvent to the AMQP message."""

from __future__ import annotations

import json

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.apps import running_app
from tests.factories import make_client, make_deal
from tests.messaging.support import TcpProxy, consumer, eventually, host_port
from tests.metrics import scrape, value
from tests.outbox import all_published, outbox_rows

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_published_events_are_counted_and_the_backlog_drains(db, event_settings, broker_url, exchange_name):
    async with consumer(broker_url, exchange_name) as queue, running_app(event_settings) as (_, api):
        await eventually(lambda: _leads(api), message="the relay leads")
        before = await scrape(api)
        await make_deal(api)  # client.created, deal.created
        await eventually(lambda: all_published(db), message="outbox published")
        await queue.wait_for(2)
        after = await scrape(api)

    assert value(after, "crm_relay_lead") == 1
    assert value(after, "crm_relay_published_total") - value(before, "crm_relay_published_total") == 2
    assert value(after, "crm_outbox_unpublished") == 0
    assert value(after, "crm_outbox_oldest_unpublished_age_seconds") == 0
    assert value(after, "crm_relay_failures_total", sink="broker") == 0


async def test_failed_publishing_rounds_are_counted_while_the_broker_is_away(db, event_settings, broker_url):
    proxy = TcpProxy(*host_port(broker_url, 5672))
    await proxy.start()
    settings = event_settings.model_copy(update={"rabbitmq_url": proxy.url(broker_url)})
    async with running_app(settings) as (_, api):
        await eventually(lambda: _leads(api), message="the relay leads")
        await proxy.cut()
        await make_client(api)

        async def failures_counted() -> bool:
            return value(await scrape(api), "crm_relay_failures_total", sink="broker") >= 1

        await eventually(failures_counted, message="a failed round counted")
        figures = await scrape(api)
        await proxy.restore()
        await eventually(lambda: all_published(db), timeout=30, message="caught up after the outage")
        await proxy.cut()

    assert value(figures, "crm_outbox_unpublished") >= 1
    assert value(figures, "crm_outbox_oldest_unpublished_age_seconds") > 0


async def test_the_callers_traceparent_travels_from_the_request_to_the_amqp_message(
    db, event_settings, broker_url, exchange_name
):
    async with consumer(broker_url, exchange_name) as queue, running_app(event_settings) as (_, api):
        response = await api.post("/api/v1/clients", json={"name": "Traced"}, headers={"traceparent": TRACEPARENT})
        assert response.status_code == 201
        untraced = await api.post("/api/v1/clients", json={"name": "Untraced"})
        assert untraced.status_code == 201
        await eventually(lambda: all_published(db), message="outbox published")
        traced_message, untraced_message = await queue.wait_for(2)

    traced_row, untraced_row = await outbox_rows(db)
    assert json.loads(traced_row["headers"])["traceparent"] == TRACEPARENT
    assert JSONFormat().read(CloudEvent, traced_row["payload"]).get_extension("traceparent") == TRACEPARENT
    event = JSONFormat().read(CloudEvent, traced_message.body)
    assert event.get_id() == str(traced_row["event_id"])
    assert event.get_extension("traceparent") == TRACEPARENT
    assert traced_message.headers["traceparent"] == TRACEPARENT
    # A request without one: no attribute, no header.
    assert "traceparent" not in json.loads(untraced_row["headers"])
    assert "traceparent" not in JSONFormat().read(CloudEvent, untraced_message.body).get_attributes()
    assert "traceparent" not in untraced_message.headers


async def _leads(api) -> bool:
    return value(await scrape(api), "crm_relay_lead") == 1
