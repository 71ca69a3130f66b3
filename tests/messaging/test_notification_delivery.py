"""crm-worker delivering notifications against real PostgreSQL, Redis and a real HTTP server standing in for
Telegram: retries with backoff, the attempt limit, 429's retry_after, the mock, expired leases, the stream."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog
from pydantic import SecretStr

from crm.app.config import Settings
from crm.app.logging import configure_logging
from crm.app.notifications import retry_policy
from crm.app.wiring import Wiring
from crm.domain.notifications.delivery import NotificationDelivery, RetryPolicy
from crm.domain.notifications.records import DeliveryStatus, DueDelivery, SendOutcome
from crm.domain.notifications.schemas import Channel
from tests.messaging.support import run_job
from tests.telegram_stub import OK, TelegramStub, server_error, too_many
from tests.values import untimed

NOTIFICATIONS = "/api/v1/notifications"
TOKEN = "123456:test-bot-token-never-logged"
JOB = "notification-deliveries"


@pytest.fixture
def telegram() -> Iterator[TelegramStub]:
    stub = TelegramStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def delivery_settings(settings: Settings, telegram: TelegramStub, cache_url: str, run_id: str) -> Settings:
    return settings.model_copy(
        update={
            "notifications_telegram_api_url": telegram.origin,
            "notifications_telegram_bot_token": SecretStr(TOKEN),
            "notifications_max_attempts": 3,
            "notifications_retry_base_seconds": 0.05,
            "notifications_retry_max_seconds": 0.2,
            "redis_url": cache_url,
            "notifications_stream_key": f"crm.notifications.test.{run_id}.{uuid.uuid4().hex[:6]}",
        }
    )


async def notify(api, **body: Any) -> str:  # type: ignore[no-untyped-def]
    body.setdefault("event_key", "test.delivery")
    response = await api.post(NOTIFICATIONS, json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["notification_id"])


async def deliver_until_settled(api, pool, settings, notification_id: str, runs: int = 40) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Runs the job (as beat would, every little while) until the notification is finished; it, then."""
    for _ in range(runs):
        await run_job(JOB, pool, settings)
        shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
        if shown["status"] in ("delivered", "failed", "processed"):
            return shown  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {shown}")


async def events(db, routing_key: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    rows = await db.fetch("SELECT payload FROM crm.outbox WHERE routing_key = $1 ORDER BY id", routing_key)
    return [json.loads(row["payload"]) for row in rows]


async def test_a_message_failing_twice_is_delivered_on_the_third_try(api, db, pool, delivery_settings, telegram):
    telegram.script = [server_error(), server_error()]
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}], payload={"n": 1})

    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    assert shown["status"] == "delivered", json.dumps(shown)
    assert [a["status"] for a in shown["attempts"]] == ["failed", "failed", "delivered"]
    assert shown["attempts"][0]["error"] == "telegram answered 502: Bad Gateway"
    assert shown["deliveries"][0]["attempts"] == 3 and shown["deliveries"][0]["delivered_at"] is not None
    assert [(m["chat_id"], untimed(m["text"])) for m in telegram.messages] == [("42", "test.delivery\nn: 1")] * 3
    assert telegram.paths == [f"/bot{TOKEN}/sendMessage"] * 3
    assert len(await events(db, "notification.delivered")) == 1


async def test_a_message_always_failing_is_failed_after_the_limit_with_every_attempt(
    api, db, pool, delivery_settings, telegram
):
    telegram.always = server_error()
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])

    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    assert shown["status"] == "failed"
    assert [a["status"] for a in shown["attempts"]] == ["failed"] * 3
    assert shown["deliveries"][0]["last_error"] == "telegram answered 502: Bad Gateway"
    assert len(telegram.messages) == 3
    assert len(await events(db, "notification.failed")) == 1
    # Nothing is tried again.
    await run_job(JOB, pool, delivery_settings)
    assert len(telegram.messages) == 3


async def test_a_429_is_tried_again_only_after_its_retry_after(api, pool, delivery_settings, telegram):
    telegram.script = [too_many(1)]
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])

    await run_job(JOB, pool, delivery_settings)
    await asyncio.sleep(0.3)
    await run_job(JOB, pool, delivery_settings)
    assert len(telegram.messages) == 1
    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    assert shown["status"] == "delivered"
    first, second = shown["attempts"]
    assert first["error"].startswith("telegram answered 429")
    gap = (_instant(second["at"]) - _instant(first["at"])).total_seconds()
    assert gap >= 1.0


async def test_a_refusal_for_good_is_not_retried(api, pool, delivery_settings, telegram):
    telegram.always = (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])

    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    assert shown["status"] == "failed" and len(shown["attempts"]) == 1
    assert shown["deliveries"][0]["last_error"] == "telegram answered 400: Bad Request: chat not found"


async def test_the_mock_records_messages_as_sent_without_a_call(api, pool, delivery_settings, telegram):
    mocked = delivery_settings.model_copy(update={"notifications_telegram_mock": True})
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])

    shown = await deliver_until_settled(api, pool, mocked, notification_id)

    assert shown["status"] == "delivered"
    assert telegram.messages == []


async def test_without_a_token_or_the_mock_telegram_deliveries_fail_with_a_clear_error(
    api, pool, delivery_settings, telegram
):
    unconfigured = delivery_settings.model_copy(update={"notifications_telegram_bot_token": None})
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])

    shown = await deliver_until_settled(api, pool, unconfigured, notification_id)

    assert shown["status"] == "failed"
    assert "CRM_NOTIFICATIONS_TELEGRAM_BOT_TOKEN" in shown["deliveries"][0]["last_error"]
    assert telegram.messages == []


async def test_deliveries_of_a_worker_that_died_are_taken_again_once_the_lease_ran_out(
    api, db, pool, delivery_settings, telegram
):
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}, {"telegram_id": "43"}])
    # A worker claims both and dies before sending anything.
    wiring = Wiring.of(pool, delivery_settings)
    dead = NotificationDelivery(wiring.uow, {}, wiring.clock, retry_policy(delivery_settings))
    assert len(await dead.claim(10)) == 2
    assert (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()["status"] == "queued"

    assert (await run_job(JOB, pool, delivery_settings))["claimed"] == 0  # the lease holds
    await db.execute("UPDATE crm.notification_deliveries SET lease_until = now() - interval '1 second'")
    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    assert shown["status"] == "delivered"
    assert sorted(m["chat_id"] for m in telegram.messages) == ["42", "43"]


async def test_a_slow_worker_whose_lease_ran_out_writes_nothing_over_the_claim_that_followed(
    api, db, pool, delivery_settings, telegram
):
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])
    wiring = Wiring.of(pool, delivery_settings)
    slow = NotificationDelivery(wiring.uow, {}, wiring.clock, retry_policy(delivery_settings))
    [stale] = await slow.claim(10)
    await db.execute("UPDATE crm.notification_deliveries SET lease_until = now() - interval '1 second'")
    fresh = NotificationDelivery(wiring.uow, {}, wiring.clock, retry_policy(delivery_settings))
    [current] = await fresh.claim(10)

    # The slow worker's try ends after its lease: it failed, and would have cleared the new claim's lease.
    assert await slow.record([(stale, SendOutcome.failed("timed out"))]) == []
    assert (await run_job(JOB, pool, delivery_settings))["claimed"] == 0  # the new claim still holds it
    [recorded] = await fresh.record([(current, SendOutcome.ok())])

    assert recorded.status is DeliveryStatus.DELIVERED
    shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
    assert shown["status"] == "delivered"
    assert [a["status"] for a in shown["attempts"]] == ["delivered"]
    assert shown["deliveries"][0]["attempts"] == 1


class Hanging:
    """A channel that never answers (a Telegram or Redis that accepted the connection and went silent)."""

    async def send(self, delivery: DueDelivery) -> SendOutcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_try_that_gets_no_answer_ends_as_a_failure_within_half_the_lease(api, pool, delivery_settings):
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])
    wiring = Wiring.of(pool, delivery_settings)
    policy = RetryPolicy(max_attempts=1, base_seconds=1, max_seconds=1, lease=timedelta(seconds=0.4))
    delivery = NotificationDelivery(wiring.uow, {Channel.TELEGRAM: Hanging()}, wiring.clock, policy)

    run = await asyncio.wait_for(delivery.deliver(10, budget=5), timeout=5)

    assert (run.claimed, run.failed) == (1, 1)
    shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
    assert shown["status"] == "failed"
    assert shown["deliveries"][0]["last_error"] == "no answer within 0.2 s"


async def test_a_delivered_recipient_is_not_sent_again(api, db, pool, delivery_settings, telegram):
    telegram.script = [OK, server_error()]
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}, {"telegram_id": "43"}])

    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)
    # Even a lease left behind on a delivered row does not bring it back.
    await db.execute("UPDATE crm.notification_deliveries SET lease_until = now() - interval '1 second'")
    await run_job(JOB, pool, delivery_settings)

    assert shown["status"] == "delivered"
    sent = [m["chat_id"] for m in telegram.messages]
    assert sorted(sent) == ["42", "43", "43"] or sorted(sent) == ["42", "42", "43"]
    assert len(sent) == 3


async def test_an_sse_delivery_is_added_to_the_redis_stream(api, pool, delivery_settings, cache_url):
    user = str(uuid.uuid4())
    notification_id = await notify(api, recipients=[{"user_id": user}], payload={"k": "v"})

    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    redis = aioredis.Redis.from_url(cache_url)
    try:
        entries = await redis.xrange(delivery_settings.notifications_stream_key)
    finally:
        await redis.aclose()
    assert shown["status"] == "delivered"
    ((_, fields),) = entries
    entry = json.loads(fields[b"data"])
    assert entry["notification_id"] == notification_id and entry["user_id"] == user and entry["staff"] is False
    assert entry["event_key"] == "test.delivery" and untimed(entry["text"]) == "test.delivery\nk: v"


@pytest.fixture
def worker_logs(settings: Settings) -> Iterator[io.StringIO]:
    """crm-worker's logging (crm.app.logging) at DEBUG, into a buffer; the run's logging is put back after."""
    root = logging.getLogger()
    quieted = ("httpx",)
    saved = (structlog.get_config(), root.handlers[:], root.level, {n: logging.getLogger(n).level for n in quieted})
    configure_logging(settings.model_copy(update={"log_level": "DEBUG"}))
    structlog.configure(cache_logger_on_first_use=False)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        config, handlers, level, levels = saved
        structlog.configure(**config)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, named_level in levels.items():
            logging.getLogger(name).setLevel(named_level)


async def test_the_bot_token_is_never_logged_nor_recorded(api, pool, delivery_settings, telegram, worker_logs):
    telegram.script = [server_error()]
    notification_id = await notify(api, recipients=[{"telegram_id": "42"}])

    shown = await deliver_until_settled(api, pool, delivery_settings, notification_id)

    assert len(telegram.messages) == 2
    assert TOKEN not in worker_logs.getvalue()
    assert TOKEN not in json.dumps(shown)


async def test_finished_notifications_past_their_retention_are_pruned_and_unfinished_ones_kept(
    api, db, pool, delivery_settings
):
    delivered = await notify(api, recipients=[{"telegram_id": "42"}])
    await deliver_until_settled(api, pool, delivery_settings, delivered)
    failed = await notify(api, recipients=[{"user_id": str(uuid.uuid4())}], channel_overrides=["telegram"])
    kept = await notify(api, recipients=[{"telegram_id": "42"}])
    await db.execute("UPDATE crm.notifications SET updated_at = now() - interval '31 days'")

    assert await run_job("prune-notifications", pool, delivery_settings) == {"job": "prune-notifications", "deleted": 2}
    assert [(await api.get(f"{NOTIFICATIONS}/{n}")).status_code for n in (delivered, failed, kept)] == [404, 404, 200]


def _instant(value: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(value)
