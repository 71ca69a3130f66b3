"""The deal stream sends each caller only the events of the deals they see, on replay and live, and follows
changes of who sees what on an open stream."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from crm.domain.streams import ACCESS_REFRESH_SECONDS
from tests.integration.access_support import User, as_user
from tests.messaging.support import open_stream, served_app
from tests.values import day


@pytest.fixture
def stream_settings(event_settings):
    return event_settings.model_copy(update={"rabbitmq_url": None})


async def deal_of(api: httpx.AsyncClient, owner: User) -> dict:
    headers = as_user(owner)
    client = (await api.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)).json()
    response = await api.post(
        "/api/v1/deals",
        json={"client_id": client["id"], "title": "Fleet", "next_review_at": day(10)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_seller_streams_only_the_events_of_their_deals_live_and_on_replay(stream_settings):
    seller, other = User(uuid.uuid4(), "owner"), User(uuid.uuid4(), "stranger")
    async with served_app(stream_settings) as url, httpx.AsyncClient(base_url=url) as api:
        async with open_stream(url, **as_user(seller)) as stream:
            theirs = await deal_of(api, other)
            mine = await deal_of(api, seller)
            live = await stream.next()
            await stream.nothing_more()
        await api.patch(f"/api/v1/deals/{theirs['id']}", json={"title": "Theirs, renamed"}, headers=as_user(other))
        await api.patch(f"/api/v1/deals/{mine['id']}", json={"title": "Mine, renamed"}, headers=as_user(seller))
        async with open_stream(url, **{**as_user(seller), "Last-Event-ID": live.id}) as stream:
            missed = await stream.next()
            await stream.nothing_more()
    assert (live.event, live.cloudevent["subject"]) == ("deal.created", mine["id"])
    assert (missed.event, missed.cloudevent["subject"]) == ("deal.updated", mine["id"])


async def test_joining_and_leaving_a_deal_team_takes_effect_on_an_open_stream(stream_settings):
    owner, executor = User(uuid.uuid4(), "owner"), User(uuid.uuid4(), "executor_on")
    async with served_app(stream_settings) as url, httpx.AsyncClient(base_url=url) as api:
        deal = await deal_of(api, owner)
        team = f"/api/v1/deals/{deal['id']}/members"
        async with open_stream(url, **as_user(executor)) as stream:
            await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Before"}, headers=as_user(owner))
            await stream.nothing_more()
            await api.post(team, json={"user_id": str(executor.id), "role": "executor"}, headers=as_user(owner))
            await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "While on the team"}, headers=as_user(owner))
            joined = await stream.take(2)
            await api.delete(f"{team}/{executor.id}", headers=as_user(owner))
            await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "After"}, headers=as_user(owner))
            await stream.nothing_more()
    assert [e.event for e in joined] == ["deal.member.added", "deal.updated"]
    assert joined[1].cloudevent["data"]["title"] == "While on the team"


async def test_a_task_assigned_on_a_deal_opens_its_events_within_seconds(stream_settings):
    owner, assignee = User(uuid.uuid4(), "owner"), User(uuid.uuid4(), "executor_off")
    async with served_app(stream_settings) as url, httpx.AsyncClient(base_url=url) as api:
        deal = await deal_of(api, owner)
        async with open_stream(url, **as_user(assignee)) as stream:
            await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Not yet"}, headers=as_user(owner))
            await stream.nothing_more()
            task = await api.post(
                "/api/v1/tasks",
                json={"title": "Inspect the car", "deal_id": deal["id"], "assignee_id": str(assignee.id)},
                headers=as_user(owner),
            )
            assert task.status_code == 201, task.text
            await asyncio.sleep(ACCESS_REFRESH_SECONDS + 0.2)
            await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Now"}, headers=as_user(owner))
            event = await stream.next()
    assert event.cloudevent["data"]["title"] == "Now"
