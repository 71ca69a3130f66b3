"""GET /streams/deals over a real HTTP connection: fan-out across processes, replay, filters, heartbeats."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.auth import admin
from tests.factories import assert_problem, make_deal
from tests.messaging.support import TcpProxy, eventually, host_port, open_stream, served_app
from tests.outbox import all_settled, outbox_rows


@pytest.fixture
def lead_settings(event_settings):
    """No broker needed for the stream: the lead fans settled events out through Redis."""
    return event_settings.model_copy(update={"rabbitmq_url": None})


@pytest.fixture
def follower_settings(lead_settings):
    """A process without a relay: everything it streams reached it through Redis."""
    return lead_settings.model_copy(update={"relay_enabled": False})


async def new_deal(api: httpx.AsyncClient) -> dict:
    return await make_deal(api)


async def test_a_process_streams_deal_events_written_through_another_one(lead_settings, follower_settings, db):
    async with (
        served_app(lead_settings) as lead_url,
        served_app(follower_settings) as follower_url,
        open_stream(follower_url) as stream,
        httpx.AsyncClient(base_url=lead_url, headers=admin()) as api,
    ):
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-cache"
        assert stream.response.headers["x-accel-buffering"] == "no"
        deal = await new_deal(api)
        event = await stream.next()

    row = (await outbox_rows(db, routing_key="deal.created"))[0]
    assert event.event == "deal.created"
    assert event.id == str(row["sequence"])
    assert event.cloudevent["id"] == str(row["event_id"])
    assert event.cloudevent["type"] == "crm.deal.created"
    assert event.cloudevent["subject"] == deal["id"]
    assert event.cloudevent["data"]["title"] == deal["title"]


async def test_a_client_reconnecting_with_last_event_id_gets_exactly_what_it_missed(lead_settings, follower_settings):
    async with (
        served_app(lead_settings) as lead_url,
        served_app(follower_settings) as follower_url,
        httpx.AsyncClient(base_url=lead_url, headers=admin()) as api,
    ):
        async with open_stream(follower_url) as stream:
            deal = await new_deal(api)
            await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Fleet CASCO, second year"})
            seen = await stream.take(2)
        assert [e.event for e in seen] == ["deal.created", "deal.updated"]

        # Missed while away: a note, a stage move, another deal (and a client event that is not on the stream).
        await api.post(f"/api/v1/deals/{deal['id']}/journal", json={"body": "Called the client back"})
        moved = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "negotiation"})
        assert moved.status_code == 200, moved.text
        other = await new_deal(api)

        async with open_stream(follower_url, **{"Last-Event-ID": seen[-1].id}) as stream:
            missed = await stream.take(4)
            await stream.nothing_more()
            await api.delete(f"/api/v1/deals/{other['id']}")
            live = await stream.next()

    assert [e.event for e in missed] == ["deal.journal.appended", "deal.updated", "deal.stage.changed", "deal.created"]
    ids = [int(e.id) for e in [*seen, *missed, live]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert missed[-1].cloudevent["subject"] == other["id"]
    assert live.event == "deal.deleted"


async def test_without_last_event_id_the_stream_starts_with_the_next_event(lead_settings):
    async with served_app(lead_settings) as url, httpx.AsyncClient(base_url=url, headers=admin()) as api:
        await new_deal(api)
        await asyncio.sleep(0.5)
        async with open_stream(url) as stream:
            await stream.nothing_more()
            fresh = await new_deal(api)
            event = await stream.next()
    assert event.cloudevent["subject"] == fresh["id"]


async def test_filters_by_deal_and_type(lead_settings):
    async with served_app(lead_settings) as url, httpx.AsyncClient(base_url=url, headers=admin()) as api:
        watched, other = await new_deal(api), await new_deal(api)
        query = f"/streams?deal_id={watched['id']}&types=deal.updated,deal.deleted"
        async with open_stream(url, query) as stream:
            await api.patch(f"/api/v1/deals/{other['id']}", json={"title": "Not this one"})
            await api.post(f"/api/v1/deals/{watched['id']}/journal", json={"body": "Not this type"})
            await api.patch(f"/api/v1/deals/{watched['id']}", json={"title": "This one"})
            await api.delete(f"/api/v1/deals/{watched['id']}")
            events = await stream.take(2)
            await stream.nothing_more()
    assert [(e.event, e.cloudevent["subject"]) for e in events] == [
        ("deal.updated", watched["id"]),
        ("deal.deleted", watched["id"]),
    ]


async def test_heartbeat_comments_keep_an_idle_stream_open(lead_settings):
    settings = lead_settings.model_copy(update={"stream_heartbeat_seconds": 0.2})
    async with served_app(settings) as url, open_stream(url) as stream:
        with pytest.raises(TimeoutError):
            await stream.next(timeout=0.7)
    assert any(comment.startswith("ping") or comment.strip() == "" for comment in stream.comments)
    assert len(stream.comments) >= 2


async def test_without_redis_the_stream_is_fed_inside_the_process(lead_settings):
    settings = lead_settings.model_copy(update={"redis_url": None})
    async with served_app(settings) as url, httpx.AsyncClient(base_url=url, headers=admin()) as api:
        async with open_stream(url) as stream:
            deal = await new_deal(api)
            event = await stream.next()
        ready = (await api.get("/readyz")).json()["components"]
    assert event.cloudevent["subject"] == deal["id"]
    assert ready["redis"] == {"required": False, "configured": False, "ok": True}


async def test_a_redis_outage_delays_the_stream_and_loses_nothing(lead_settings, follower_settings, cache_url):
    proxy = TcpProxy(*host_port(cache_url, 6379))
    await proxy.start()
    follower = follower_settings.model_copy(update={"redis_url": proxy.url(cache_url)})
    async with served_app(lead_settings) as lead_url, served_app(follower) as follower_url:
        async with open_stream(follower_url) as stream, httpx.AsyncClient(base_url=lead_url, headers=admin()) as api:
            first = await new_deal(api)
            assert (await stream.next()).cloudevent["subject"] == first["id"]
            await proxy.cut()
            during = [await new_deal(api) for _ in range(3)]
            await asyncio.sleep(0.5)
            await proxy.restore()
            caught_up = await stream.take(3, timeout=15)
            await stream.nothing_more()
        await proxy.cut()
    assert [e.cloudevent["subject"] for e in caught_up] == [d["id"] for d in during]


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("", {"Last-Event-ID": "abc"}, "Last-Event-ID"),
        ("?last_event_id=-1", {}, "last_event_id"),
        ("?types=DEAL CREATED", {}, "types"),
        ("?deal_id=not-a-uuid", {}, "deal_id"),
    ],
)
async def test_bad_stream_parameters_are_a_problem(api, query, headers, field):
    response = await api.get(f"/streams/deals{query}", headers=headers)
    assert_problem(response, 422, "validation_error", field)


async def test_a_new_lead_pushes_events_settled_but_never_streamed_and_clients_drop_repeats(
    api, db, lead_settings, follower_settings
):
    async with served_app(follower_settings) as follower_url, open_stream(follower_url) as stream:
        # The shared app runs no relay (as when a lead died before pushing): in the outbox, never on Redis.
        already = await make_deal(api)
        await eventually(lambda: all_settled(db), message="every event settled")
        await stream.nothing_more()
        async with served_app(lead_settings):
            missed = await stream.next()
            await stream.nothing_more()
    assert (missed.event, missed.cloudevent["subject"]) == ("deal.created", already["id"])
