"""The inbound events consumer on the real broker and database: journaled once per id, retried with backoff,
dead-lettered (never dropped) with the reason, stopped and started again without loss, replayed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from crm.app.cli import main as crm_api
from crm.app.inbound import InboundEvents
from crm.app.wiring import Wiring, open_pool
from crm.domain.caller import Caller
from crm.domain.notifications.inbound import InboundEventService
from crm.domain.notifications.schemas import Channel, NotificationRequest, Recipient
from crm.domain.uow import UnitOfWork
from crm.infrastructure.events.inbound_consumer import ATTEMPTS, REASON
from crm.infrastructure.events.inbound_reader import SdkCloudEventReader
from tests.apps import running_app
from tests.inbound import (
    cloudevent,
    depth,
    inbound_settings,
    journaled,
    message,
    publish,
    queues_of,
    take_all,
    topology,
)
from tests.messaging.support import TcpProxy, eventually, host_port


class FailingIntake:
    """An intake that fails its first ``failures`` calls (all of them by default), then records requests."""

    def __init__(self, failures: int | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.submitted: list[NotificationRequest] = []

    async def submit_in(self, uow: UnitOfWork, request: NotificationRequest, actor: Caller) -> uuid.UUID | None:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise RuntimeError(f"template store said no (call {self.calls})")
        self.submitted.append(request)
        return uuid.uuid4()

    async def submit_all_in(
        self, uow: UnitOfWork, requests: Sequence[NotificationRequest], actor: Caller
    ) -> list[uuid.UUID | None]:
        return [await self.submit_in(uow, request, actor) for request in requests]


def consumer_with(settings, pool, intake: Any) -> InboundEvents:
    """A consumer handing events to ``intake``; None: the real notifications intake, as crm-api wires it."""
    wiring = Wiring.of(pool, settings)
    service = InboundEventService(wiring.uow, SdkCloudEventReader(), intake or wiring.notification_intake)
    return InboundEvents(settings, service)


async def test_published_events_are_journaled_once_each_and_the_health_says_so(settings, broker_url, run_id, db):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    events = [cloudevent(chatId=100 + n) for n in range(200)]
    async with topology(broker_url, queues) as channel, running_app(own) as (app, api):
        await publish(channel, queues, [message(event) for event in events])
        await eventually(lambda: _equals(journaled(db), 200), 20, "200 events journaled")
        health = await api.get("/api/notifications/health")
        ready = await api.get("/readyz")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok" and body["queue_depth"] == 0 and body["dead_letters"] == 0
    assert body["consumer"]["consumed"] == 200 and body["consumer"]["journaled"] == 200
    assert body["consumer"]["last_message_at"] is not None
    assert ready.json()["components"]["inbound_events"] == {**ready.json()["components"]["inbound_events"], "ok": True}
    rows = await db.fetch("SELECT id, transport FROM crm.inbound_events")
    assert {row["id"] for row in rows} == {event["id"] for event in events}
    assert {row["transport"] for row in rows} == {"amqp"}


async def _equals(count: Any, expected: int) -> bool:
    return await count == expected


async def test_twenty_identical_events_over_amqp_and_http_at_once_are_journaled_once(settings, broker_url, run_id, db):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    event = cloudevent(chatId=42)
    async with (
        topology(broker_url, queues) as channel,
        running_app(own) as (first, api),
        running_app(own) as (second, _),
    ):
        answers, _ = await asyncio.gather(
            asyncio.gather(*(api.post("/api/notifications/events", json=event) for _ in range(20))),
            publish(channel, queues, [message(event) for _ in range(20)]),
        )
        consumers = [first.state.inbound_events.progress, second.state.inbound_events.progress]
        await eventually(lambda: _settled(consumers, 20), 20, "both consumers took the 20 messages")
        left = await depth(channel, queues.queue)
        dead = await depth(channel, queues.dead_letters)
    assert {answer.status_code for answer in answers} == {202}
    assert await journaled(db) == 1
    new = sum(not answer.json()["duplicate"] for answer in answers) + sum(p.journaled for p in consumers)
    assert new == 1
    assert sum(p.duplicates for p in consumers) + sum(p.journaled for p in consumers) == 20
    assert (left, dead) == (0, 0)


async def _settled(progress: list[Any], count: int) -> bool:
    return sum(p.journaled + p.duplicates for p in progress) == count


async def test_a_poison_message_goes_straight_to_the_dead_letter_queue_with_its_reason(
    settings, broker_url, run_id, db
):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    missing_id = {**cloudevent(), "id": None}
    del missing_id["id"]
    poison = [message(b"{not json"), message(missing_id), message(cloudevent(chatId="nobody"))]
    async with topology(broker_url, queues) as channel, running_app(own) as (app, api):
        await publish(channel, queues, poison)
        progress = app.state.inbound_events.progress
        await eventually(lambda: _value(lambda: progress.dead_lettered == 3), 20, "3 dead letters")
        health = (await api.get("/api/notifications/health")).json()
        dead = await take_all(channel, queues.dead_letters)
    assert health["dead_letters"] == 3 and health["consumer"]["malformed"] == 3
    reasons = sorted(str(each.headers[REASON]) for each in dead)
    assert reasons == [
        "malformed: body: is not JSON",
        "malformed: data.chatId: a chat id (digits, maybe negative) or an @username",
        "malformed: id: is required",
    ]
    assert sorted(each.body for each in dead) == sorted(each.body for each in poison)
    assert await journaled(db) == 0


async def _value(check: Any) -> bool:
    return bool(check())


async def test_an_event_whose_handling_keeps_failing_is_dead_lettered_after_the_limit_never_dropped(
    settings, broker_url, run_id, db, pool
):
    own = inbound_settings(settings, broker_url, run_id, notifications_max_deliveries=3)
    queues = queues_of(own)
    intake = FailingIntake()
    event = cloudevent(chatId=7)
    consumer = consumer_with(own, pool, intake)
    async with topology(broker_url, queues) as channel:
        await consumer.start()
        try:
            await publish(channel, queues, [message(event)])
            await eventually(lambda: _value(lambda: consumer.progress.dead_lettered == 1), 20, "dead-lettered")
        finally:
            await consumer.stop()
        (dead,) = await take_all(channel, queues.dead_letters)
        left = await depth(channel, queues.queue) + await depth(channel, queues.retry)
    assert intake.calls == 3 and consumer.progress.failed == 3 and consumer.progress.retried == 2
    assert dead.headers[ATTEMPTS] == 3
    assert str(dead.headers[REASON]).startswith("failed 3 times; last error: RuntimeError: template store said no")
    assert dead.body == message(event).body and left == 0
    assert await journaled(db) == 0  # each failed try rolled back its journal row with it


async def test_an_event_that_fails_twice_then_succeeds_is_handed_on_once(settings, broker_url, run_id, db, pool):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    intake = FailingIntake(failures=2)
    event = cloudevent(chatId=7, userId="6a3c3a37-6c3e-4d0e-8b4a-2b0f3f6f9b1e")
    consumer = consumer_with(own, pool, intake)
    async with topology(broker_url, queues) as channel:
        await consumer.start()
        try:
            await publish(channel, queues, [message(event)])
            await eventually(lambda: _value(lambda: consumer.progress.journaled == 1), 20, "journaled")
        finally:
            await consumer.stop()
    assert consumer.progress.retried == 2 and consumer.progress.dead_lettered == 0
    (request,) = intake.submitted
    assert request.event_key == "notifications.test" and request.deduplication_key == f"inbound:{event['id']}"
    assert request.recipients == [Recipient(telegram_id="7", user_id=uuid.UUID(event["data"]["userId"]))]
    assert request.channel_overrides == [Channel.TELEGRAM, Channel.SSE]
    assert request.payload == event["data"]
    assert await journaled(db) == 1


async def test_an_event_naming_no_chat_is_handed_on_for_the_staff_stream(settings, broker_url, run_id, db, pool):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    intake = FailingIntake(failures=0)
    consumer = consumer_with(own, pool, intake)
    async with topology(broker_url, queues) as channel:
        await consumer.start()
        try:
            await publish(channel, queues, [message(cloudevent(text="deploy finished"))])
            await eventually(lambda: _value(lambda: consumer.progress.journaled == 1), 20, "journaled")
        finally:
            await consumer.stop()
    (request,) = intake.submitted
    assert request.recipients == [] and request.channel_overrides == [Channel.SSE]


async def test_a_consumer_stopped_midway_and_started_again_loses_nothing(settings, broker_url, run_id, db, pool):
    own = inbound_settings(settings, broker_url, run_id)
    queues = queues_of(own)
    events = [cloudevent(n=n) for n in range(3000)]
    async with topology(broker_url, queues) as channel:
        await publish(channel, queues, [message(event) for event in events])
        first = consumer_with(own, pool, None)
        await first.start()
        await eventually(lambda: _more_than(journaled(db), 300), 20, "some journaled")
        await first.stop()
        stopped_at = await journaled(db)
        second = consumer_with(own, pool, None)
        await second.start()
        try:
            await eventually(lambda: _equals(journaled(db), 3000), 30, "all 3000 journaled")
        finally:
            await second.stop()
        dead = await depth(channel, queues.dead_letters)
    assert stopped_at < 3000, "the first consumer was stopped midway"
    assert first.progress.consumed == first.progress.journaled  # a graceful stop finishes what it holds
    assert first.progress.journaled + second.progress.journaled == 3000
    assert dead == 0
    keys = await db.fetch("SELECT deduplication_key FROM crm.notifications WHERE deduplication_key LIKE 'inbound:%'")
    assert sorted(row["deduplication_key"] for row in keys) == sorted(f"inbound:{event['id']}" for event in events)


async def _more_than(count: Any, floor: int) -> bool:
    return await count > floor


async def test_dead_letters_replayed_by_the_cli_are_journaled(settings, broker_url, run_id, db, pool, monkeypatch):
    own = inbound_settings(settings, broker_url, run_id, notifications_max_deliveries=1)
    queues = queues_of(own)
    events = [cloudevent(n=n) for n in range(3)]
    async with topology(broker_url, queues) as channel:
        failing = consumer_with(own, pool, FailingIntake())
        await failing.start()
        try:
            await publish(channel, queues, [message(event) for event in events])
            await eventually(lambda: _value(lambda: failing.progress.dead_lettered == 3), 20, "3 dead letters")
        finally:
            await failing.stop()
        monkeypatch.setenv("CRM_RABBITMQ_URL", broker_url)
        monkeypatch.setenv("CRM_NOTIFICATIONS_EXCHANGE", queues.exchange)
        monkeypatch.setenv("CRM_NOTIFICATIONS_QUEUE_NAME", queues.queue)
        assert await asyncio.to_thread(crm_api, ["replay-dead-letters"]) == 0
        assert await depth(channel, queues.dead_letters) == 0
        working = consumer_with(own, pool, FailingIntake(failures=0))
        await working.start()
        try:
            await eventually(lambda: _equals(journaled(db), 3), 20, "replayed events journaled")
        finally:
            await working.stop()
    assert working.progress.journaled == 3 and working.progress.dead_lettered == 0


@pytest.mark.parametrize("prefetch", [1, 50])
async def test_the_consumer_stops_within_its_grace_whatever_it_holds(settings, broker_url, run_id, pool, prefetch):
    own = inbound_settings(settings, broker_url, run_id, notifications_prefetch=prefetch)
    queues = queues_of(own)
    async with topology(broker_url, queues) as channel:
        consumer = consumer_with(own, pool, None)
        await consumer.start()
        await publish(channel, queues, [message(cloudevent()) for _ in range(500)])
        started = asyncio.get_running_loop().time()
        await consumer.stop()
        took = asyncio.get_running_loop().time() - started
    assert took < 5 and consumer.progress.state == "stopped"


async def test_a_database_outage_holds_events_without_spending_their_tries(
    settings, broker_url, run_id, database_url, db
):
    own = inbound_settings(settings, broker_url, run_id, notifications_max_deliveries=2)
    queues = queues_of(own)
    proxy = TcpProxy(*host_port(database_url, 5432))
    await proxy.start()
    through_proxy = own.model_copy(update={"database_url": proxy.url(database_url), "db_acquire_timeout": 0.5})
    pool = await open_pool(through_proxy, application_name="inbound-outage-test", min_size=1, max_size=2)
    consumer = consumer_with(through_proxy, pool, None)
    try:
        async with topology(broker_url, queues) as channel:
            await consumer.start()
            await publish(channel, queues, [message(cloudevent(n=n)) for n in range(10)])
            await eventually(lambda: _equals(journaled(db), 10), 20, "the first events journaled")
            await proxy.cut()
            await publish(channel, queues, [message(cloudevent(n=n)) for n in range(10, 110)])
            await eventually(lambda: _value(lambda: consumer.progress.state == "waiting_for_database"), 20, "waiting")
            await asyncio.sleep(1.5)  # several tries' worth of backoff, were the outage counted as failures
            waiting = consumer.progress.database_waits
            await proxy.restore()
            await eventually(lambda: _equals(journaled(db), 110), 30, "every event journaled after the outage")
            dead = await depth(channel, queues.dead_letters)
    finally:
        await consumer.stop()
        await pool.close()
        await proxy.cut()
    assert waiting >= 3 and consumer.progress.state == "stopped"
    assert consumer.progress.failed == 0 and consumer.progress.dead_lettered == 0 and dead == 0
