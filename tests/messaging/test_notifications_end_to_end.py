"""From an occasion or an inbound event to a message a person receives, through the real notification intake
and crm-worker's delivery job, against real PostgreSQL, Redis and a real HTTP server standing in for Telegram."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from crm.app.config import Settings
from tests.factories import add_reminder, make_task
from tests.messaging.support import make_due, run_job
from tests.telegram_stub import TelegramStub

TEMPLATES = "/api/v1/templates"
NOTIFICATIONS = "/api/v1/notifications"
INBOUND = "/api/notifications/events"


@pytest.fixture
def telegram() -> Iterator[TelegramStub]:
    stub = TelegramStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def worker_settings(settings: Settings, telegram: TelegramStub, cache_url: str, run_id: str) -> Settings:
    return settings.model_copy(
        update={
            "notifications_telegram_api_url": telegram.origin,
            "notifications_telegram_bot_token": SecretStr("123456:end-to-end-test-token"),
            "redis_url": cache_url,
            "notifications_stream_key": f"crm.notifications.e2e.{run_id}.{uuid.uuid4().hex[:6]}",
        }
    )


async def add_template(api, key: str, body: str, channel: str = "telegram", locale: str = "ru-RU") -> None:  # type: ignore[no-untyped-def]
    response = await api.post(TEMPLATES, json={"key": key, "channel": channel, "locale": locale, "body": body})
    assert response.status_code == 201, response.text


async def notification_of(db, deduplication_key: str) -> str:  # type: ignore[no-untyped-def]
    rows = await db.fetch("SELECT id FROM crm.notifications WHERE deduplication_key = $1", deduplication_key)
    assert len(rows) == 1, rows
    return str(rows[0]["id"])


async def delivered(api, pool, settings: Settings, notification_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    for _ in range(20):
        await run_job("notification-deliveries", pool, settings)
        shown: dict[str, Any] = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
        if shown["status"] in ("delivered", "failed", "processed"):
            return shown
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {shown}")


async def test_a_due_telegram_reminder_reaches_the_assignees_chat_once_with_its_template_text(
    api, db, pool, worker_settings, telegram
):
    assignee = uuid.uuid4()
    contacts = {"telegram_id": "-100777", "preferred_channel": "telegram"}
    assert (await api.put(f"/api/v1/users/{assignee}/contacts", json=contacts)).status_code == 201
    await add_template(api, "task.reminder", "Напоминание: {{ title }}")
    task = await make_task(api, assignee_id=str(assignee), title="Позвонить клиенту")
    reminder = await add_reminder(api, task, channel="telegram")
    await make_due(db, reminder)

    assert (await run_job("task-reminders", pool, worker_settings))["fired"] == 1
    assert (await run_job("task-reminders", pool, worker_settings))["fired"] == 0
    shown = await delivered(api, pool, worker_settings, await notification_of(db, f"task.reminder:{reminder['id']}"))

    assert shown["status"] == "delivered"
    assert [(m["chat_id"], m["text"]) for m in telegram.messages] == [("-100777", "Напоминание: Позвонить клиенту")]


async def test_a_reminder_speaks_the_language_the_assignee_chose_in_their_contacts(
    api, db, pool, worker_settings, telegram
):
    assignee = uuid.uuid4()
    contacts = {"telegram_id": "-100778", "preferred_channel": "telegram", "locale": "en-US"}
    assert (await api.put(f"/api/v1/users/{assignee}/contacts", json=contacts)).status_code == 201
    await add_template(api, "task.reminder", "Напоминание: {{ title }}")
    await add_template(api, "task.reminder", "Reminder: {{ title }}", locale="en-US")
    reminder = await add_reminder(
        api, await make_task(api, assignee_id=str(assignee), title="Call"), channel="telegram"
    )
    await make_due(db, reminder)

    await run_job("task-reminders", pool, worker_settings)
    await delivered(api, pool, worker_settings, await notification_of(db, f"task.reminder:{reminder['id']}"))

    assert [m["text"] for m in telegram.messages] == ["Reminder: Call"]


async def test_an_inbound_event_with_a_chat_id_is_sent_to_that_chat_in_its_types_template(
    api, db, pool, worker_settings, telegram
):
    await add_template(api, "notifications.invoice.overdue", "Счёт {{ invoice }} просрочен")
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "billing",
        "type": "notifications.invoice.overdue",
        "data": {"chatId": 4242, "invoice": "INV-7"},
    }
    for _ in range(2):  # the repeat is accepted and not processed again
        assert (await api.post(INBOUND, json=event)).status_code == 202

    shown = await delivered(api, pool, worker_settings, await notification_of(db, f"inbound:{event['id']}"))

    assert shown["status"] == "delivered", shown
    assert [(str(m["chat_id"]), m["text"]) for m in telegram.messages] == [("4242", "Счёт INV-7 просрочен")]


def ping() -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "crm-tests", "type": "notifications.ping"}


async def test_an_inbound_event_naming_nobody_goes_to_the_staff_on_the_stream_only(api, db, pool, worker_settings):
    event = ping()
    assert (await api.post(INBOUND, json={**event, "data": {"note": "hello"}})).status_code == 202

    shown = await delivered(api, pool, worker_settings, await notification_of(db, f"inbound:{event['id']}"))

    assert shown["status"] == "delivered"
    assert [d["channel"] for d in shown["deliveries"]] == ["sse"]


async def test_inbound_events_past_their_retention_are_forgotten_and_their_ids_new_again(api, db, pool, settings):
    old, recent = (
        {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "crm-tests", "type": "notifications.ping"}
        for _ in range(2)
    )
    for event in (old, recent):
        assert (await api.post(INBOUND, json=event)).status_code == 202
    await db.execute("UPDATE crm.inbound_events SET received_at = now() - interval '31 days' WHERE id = $1", old["id"])

    assert await run_job("prune-inbound-events", pool, settings) == {"job": "prune-inbound-events", "deleted": 1}
    assert [row["id"] for row in await db.fetch("SELECT id FROM crm.inbound_events")] == [recent["id"]]
    assert (await api.post(INBOUND, json=old)).json()["duplicate"] is False
