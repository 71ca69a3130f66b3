"""GET /api/notifications/stream over real HTTP connections to two crm-api processes sharing Redis: each caller
sees their own notifications (admins and managers all), and a client resumes from any process with Last-Event-ID."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from crm.app.config import Settings
from tests.apps import free_port
from tests.auth import bearer
from tests.messaging.support import open_stream, run_job, served_app
from tests.values import untimed

STREAM = "/api/notifications/stream"
NOTIFICATIONS = "/api/v1/notifications"


@pytest.fixture
def stream_settings(settings: Settings, cache_url: str, run_id: str) -> Settings:
    suffix = uuid.uuid4().hex[:6]
    return settings.model_copy(
        update={
            "redis_url": cache_url,
            "stream_channel": f"crm.stream.test.{run_id}.{suffix}",
            "notifications_stream_key": f"crm.notifications.test.{run_id}.{suffix}",
            "notifications_telegram_mock": True,
        }
    )


@contextlib.asynccontextmanager
async def two_processes(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    async with served_app(settings) as first, served_app(settings) as second:
        yield first, second


async def notify(api, user_id: uuid.UUID | None, text: str) -> str:  # type: ignore[no-untyped-def]
    recipients = [] if user_id is None else [{"user_id": str(user_id)}]
    response = await api.post(
        NOTIFICATIONS, json={"event_key": "test.stream", "recipients": recipients, "payload": {"t": text}}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["notification_id"])


async def test_each_caller_sees_their_own_notifications_and_the_staff_sees_all(api, pool, stream_settings):
    ann, bob = uuid.uuid4(), uuid.uuid4()
    async with (
        two_processes(stream_settings) as (first, second),
        open_stream(first, STREAM, **bearer(ann, "seller")) as anns,
        open_stream(second, STREAM, **bearer(uuid.uuid4(), "manager")) as managers,
    ):
        for_ann = await notify(api, ann, "a")
        for_bob = await notify(api, bob, "b")
        for_staff = await notify(api, None, "s")
        await run_job("notification-deliveries", pool, stream_settings)

        seen_by_ann = await anns.next()
        seen_by_manager = await managers.take(3)
        await anns.nothing_more()

    assert seen_by_ann.event == "notification"
    assert seen_by_ann.cloudevent["notification_id"] == for_ann
    assert seen_by_ann.cloudevent["user_id"] == str(ann)
    assert untimed(seen_by_ann.cloudevent["text"]) == "test.stream\nt: a"
    assert {e.cloudevent["notification_id"] for e in seen_by_manager} == {for_ann, for_bob, for_staff}
    staff = next(e.cloudevent for e in seen_by_manager if e.cloudevent["notification_id"] == for_staff)
    assert staff["staff"] is True and staff["user_id"] is None


async def test_a_client_resumes_on_another_process_with_last_event_id(api, pool, stream_settings):
    ann = uuid.uuid4()
    async with two_processes(stream_settings) as (first, second):
        async with open_stream(first, STREAM, **bearer(ann, "seller")) as stream:
            await notify(api, ann, "one")
            await run_job("notification-deliveries", pool, stream_settings)
            received = await stream.next()
        missed = [await notify(api, ann, "two"), await notify(api, ann, "three")]
        await run_job("notification-deliveries", pool, stream_settings)

        async with open_stream(second, STREAM, **bearer(ann, "seller"), **{"Last-Event-ID": received.id}) as stream:
            caught_up = await stream.take(2)
            live = await notify(api, ann, "four")
            await run_job("notification-deliveries", pool, stream_settings)
            after = await stream.next()

    assert sorted(e.cloudevent["notification_id"] for e in caught_up) == sorted(missed)
    assert after.cloudevent["notification_id"] == live
    ids = [received.id, *(e.id for e in caught_up), after.id]
    assert len(set(ids)) == 4


async def test_without_redis_the_stream_answers_503_naming_the_setting(api):
    response = await api.get(STREAM)

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["errors"][0]["field"] == "CRM_REDIS_URL"


async def test_a_client_resuming_while_redis_is_away_is_answered_503_not_a_stream_that_ends_at_once(stream_settings):
    away = stream_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with (
        served_app(away) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(uuid.uuid4(), "admin")) as client,
    ):
        response = await client.get(STREAM, headers={"Last-Event-ID": "1764612000000-0"})

    assert response.status_code == 503
    assert response.headers["Retry-After"]


async def test_a_last_event_id_that_is_no_stream_id_is_refused(stream_settings):
    async with (
        served_app(stream_settings) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(uuid.uuid4(), "admin")) as client,
    ):
        response = await client.get(STREAM, headers={"Last-Event-ID": "not-an-id"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Last-Event-ID"
