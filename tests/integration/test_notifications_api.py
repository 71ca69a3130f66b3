"""Notifications over HTTP: recorded and answered at once, rendered at submission, deduplicated race-free, and
shown to who may see them."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth import bearer
from tests.factories import assert_problem
from tests.outbox import outbox_rows
from tests.values import untimed

NOTIFICATIONS = "/api/v1/notifications"
TEMPLATES = "/api/v1/templates"


def event_key() -> str:
    return f"test.{uuid.uuid4().hex[:8]}"


async def submit(api, body, headers=None) -> str:  # type: ignore[no-untyped-def]
    response = await api.post(NOTIFICATIONS, json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["notification_id"])


async def test_a_notification_is_accepted_at_once_and_rendered_per_channel(api, db):
    key = event_key()
    await api.post(TEMPLATES, json={"key": key, "channel": "telegram", "body": "Hi {{ name }}, tg"})
    await api.post(TEMPLATES, json={"key": key, "channel": "sse", "body": "Hi {{ name }}, web"})
    user = str(uuid.uuid4())

    notification_id = await submit(
        api, {"event_key": key, "recipients": [{"user_id": user, "telegram_id": "12345"}], "payload": {"name": "Ann"}}
    )

    shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
    assert shown["status"] == "pending" and shown["attempts"] == []
    texts = {
        (d["channel"], d["recipient"]["user_id"], d["recipient"]["telegram_id"]): d["text"] for d in shown["deliveries"]
    }
    assert texts == {("telegram", user, "12345"): "Hi Ann, tg", ("sse", user, "12345"): "Hi Ann, web"}
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in shown["deliveries"])
    queued = await db.fetch("SELECT payload FROM crm.outbox WHERE routing_key = 'notification.queued'")
    assert len(queued) == 1


async def test_a_camel_case_body_is_accepted(api):
    notification_id = await submit(
        api,
        {
            "eventKey": event_key(),
            "recipients": [{"telegramId": "777"}],
            "channelOverrides": ["telegram"],
            "deduplicationKey": f"camel-{uuid.uuid4()}",
        },
    )

    shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
    assert [(d["channel"], d["recipient"]["telegram_id"]) for d in shown["deliveries"]] == [("telegram", "777")]
    assert shown["deduplication_key"].startswith("camel-")


async def test_without_a_template_the_text_summarises_the_event_and_payload(api):
    key = event_key()

    notification_id = await submit(api, {"event_key": key, "recipients": [{"telegram_id": "1"}], "payload": {"a": 1}})

    text = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()["deliveries"][0]["text"]
    assert untimed(text) == f"{key}\na: 1"


async def test_a_template_failing_on_this_payload_gives_the_summary_instead(api):
    key = event_key()
    await api.post(TEMPLATES, json={"key": key, "channel": "telegram", "body": "{{ amount / 0 }}"})

    notification_id = await submit(
        api, {"event_key": key, "recipients": [{"telegram_id": "1"}], "payload": {"amount": 5}}
    )

    text = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()["deliveries"][0]["text"]
    assert untimed(text) == f"{key}\namount: 5"


async def test_a_runaway_template_gives_the_summary_instead(api):
    key = event_key()
    body = "{% for i in range(9999) %}{% for j in range(9999) %}{{ i }}{% endfor %}{% endfor %}"
    await api.post(TEMPLATES, json={"key": key, "channel": "telegram", "body": body})

    notification_id = await submit(api, {"event_key": key, "recipients": [{"telegram_id": "1"}]})

    text = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()["deliveries"][0]["text"]
    assert untimed(text) == key


async def test_the_template_of_the_payload_locale_is_used_else_the_default_locale(api):
    key = event_key()
    await api.post(TEMPLATES, json={"key": key, "channel": "telegram", "locale": "ru-RU", "body": "Привет"})
    await api.post(TEMPLATES, json={"key": key, "channel": "telegram", "locale": "en-US", "body": "Hello"})
    recipients = [{"telegram_id": "1"}]

    english = await submit(api, {"event_key": key, "recipients": recipients, "payload": {"locale": "en-US"}})
    german = await submit(api, {"event_key": key, "recipients": recipients, "payload": {"locale": "de-DE"}})

    assert (await api.get(f"{NOTIFICATIONS}/{english}")).json()["deliveries"][0]["text"] == "Hello"
    assert (await api.get(f"{NOTIFICATIONS}/{german}")).json()["deliveries"][0]["text"] == "Привет"


async def test_a_repeated_deduplication_key_is_a_conflict(api):
    body = {"event_key": event_key(), "recipients": [{"telegram_id": "1"}], "deduplication_key": str(uuid.uuid4())}
    await submit(api, body)

    response = await api.post(NOTIFICATIONS, json=body)

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_notification"


async def test_twenty_concurrent_identical_posts_record_one_notification(api, db):
    body = {"event_key": event_key(), "recipients": [{"telegram_id": "1"}], "deduplication_key": str(uuid.uuid4())}

    answers = await asyncio.gather(*(api.post(NOTIFICATIONS, json=body) for _ in range(20)))

    assert sorted(a.status_code for a in answers) == [202] + [409] * 19
    assert await db.fetchval("SELECT count(*) FROM crm.notifications") == 1


async def test_only_admins_and_managers_submit_notifications(api):
    body = {"event_key": event_key(), "recipients": [{"telegram_id": "1"}]}

    assert (await api.post(NOTIFICATIONS, json=body, headers=bearer(uuid.uuid4(), "seller"))).status_code == 403
    assert (await api.post(NOTIFICATIONS, json=body, headers=bearer(uuid.uuid4(), "manager"))).status_code == 202


async def test_a_telegram_delivery_without_a_telegram_id_fails_at_once(api):
    notification_id = await submit(
        api,
        {"event_key": event_key(), "recipients": [{"user_id": str(uuid.uuid4())}], "channel_overrides": ["telegram"]},
    )

    shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
    assert shown["status"] == "failed"
    assert shown["deliveries"][0]["last_error"] == "the recipient has no telegram_id"


async def test_a_notification_none_of_whose_deliveries_can_be_sent_announces_its_failure_at_once(api, db):
    notification_id = await submit(
        api,
        {"event_key": event_key(), "recipients": [{"user_id": str(uuid.uuid4())}], "channel_overrides": ["telegram"]},
    )

    rows = await outbox_rows(db, routing_key="notification.failed")
    assert [str(row["aggregate_id"]) for row in rows] == [notification_id]


@pytest.mark.parametrize("key", ["task.reminder:1", "payment.due:x:2026-12-01", "policy.renewal:p", "inbound:42"])
async def test_a_deduplication_key_of_the_services_own_kind_is_refused(api, db, key):
    body = {"event_key": event_key(), "recipients": [{"telegram_id": "1"}], "deduplication_key": key}

    response = await api.post(NOTIFICATIONS, json=body)

    assert_problem(response, 422, "rule_violation", "deduplication_key")
    assert await db.fetchval("SELECT count(*) FROM crm.notifications") == 0


async def test_a_notification_for_nobody_on_telegram_only_is_refused_as_undeliverable(api):
    response = await api.post(NOTIFICATIONS, json={"event_key": event_key(), "channel_overrides": ["telegram"]})

    assert_problem(response, 422, "rule_violation", "channel_overrides")


async def test_a_recipient_sees_their_own_deliveries_and_a_stranger_nothing(api):
    mine, other = uuid.uuid4(), uuid.uuid4()
    notification_id = await submit(
        api, {"event_key": event_key(), "recipients": [{"user_id": str(mine)}, {"user_id": str(other)}]}
    )

    as_recipient = await api.get(f"{NOTIFICATIONS}/{notification_id}", headers=bearer(mine, "seller"))
    as_stranger = await api.get(f"{NOTIFICATIONS}/{notification_id}", headers=bearer(uuid.uuid4(), "seller"))

    assert as_recipient.status_code == 200
    assert [d["recipient"]["user_id"] for d in as_recipient.json()["deliveries"]] == [str(mine)]
    assert as_stranger.status_code == 404
    assert as_stranger.json()["code"] == "notification_not_found"


async def test_the_list_holds_what_the_caller_may_see_filtered_by_status_and_recipient(api):
    mine = uuid.uuid4()
    for_me = await submit(api, {"event_key": event_key(), "recipients": [{"user_id": str(mine)}]})
    await submit(api, {"event_key": event_key(), "recipients": [{"user_id": str(uuid.uuid4())}]})
    staff = await submit(api, {"event_key": event_key()})
    failed = await submit(
        api, {"event_key": event_key(), "recipients": [{"user_id": str(mine)}], "channel_overrides": ["telegram"]}
    )

    mine_seen = (await api.get(NOTIFICATIONS, headers=bearer(mine, "seller"))).json()["items"]
    everything = (await api.get(NOTIFICATIONS, params={"with_total": "true"})).json()
    pending_for_me = (await api.get(NOTIFICATIONS, params={"status": "pending", "recipient_id": str(mine)})).json()

    assert [n["id"] for n in mine_seen] == [failed, for_me]
    assert everything["total"] == 4 and staff in {n["id"] for n in everything["items"]}
    assert [n["id"] for n in pending_for_me["items"]] == [for_me]


async def test_a_notification_for_nobody_is_for_the_staff_on_the_stream(api):
    notification_id = await submit(api, {"event_key": event_key(), "payload": {"x": "y"}})

    shown = (await api.get(f"{NOTIFICATIONS}/{notification_id}")).json()
    assert [(d["channel"], d["recipient"], d["status"]) for d in shown["deliveries"]] == [("sse", None, "pending")]
    assert (
        await api.get(f"{NOTIFICATIONS}/{notification_id}", headers=bearer(uuid.uuid4(), "seller"))
    ).status_code == 404
    assert (
        await api.get(f"{NOTIFICATIONS}/{notification_id}", headers=bearer(uuid.uuid4(), "manager"))
    ).status_code == 200
