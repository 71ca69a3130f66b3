"""POST /api/notifications/events: CloudEvents over HTTP, journaled once per id; GET /api/notifications/health."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.auth import bearer

EVENTS = "/api/notifications/events"
HEALTH = "/api/notifications/health"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def cloudevent(**attributes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "billing",
        "type": "notifications.invoice.overdue",
        "time": "2026-12-01T09:00:00+03:00",
        "subject": "INV-42",
        "data": {"chatId": 123456789, "invoice": "INV-42"},
    }
    event.update(attributes)
    return {name: value for name, value in event.items() if value is not None}


async def journal(db) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM crm.inbound_events ORDER BY received_at, id")
    return [{**dict(row), "data": json.loads(row["data"])} for row in rows]


async def test_a_structured_cloudevent_is_accepted_and_journaled_with_how_it_came(api, db):
    event = cloudevent()
    response = await api.post(EVENTS, content=json.dumps(event), headers=STRUCTURED)
    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": event["id"], "duplicate": False}
    (row,) = await journal(db)
    assert row["id"] == event["id"] and row["source"] == "billing" and row["type"] == "notifications.invoice.overdue"
    assert row["subject"] == "INV-42" and row["transport"] == "http"
    assert row["time"].isoformat() == "2026-12-01T06:00:00+00:00"
    assert row["data"] == {"chatId": 123456789, "invoice": "INV-42"}


async def test_a_plain_json_cloudevent_is_accepted_too(api, db):
    event = cloudevent(data={"text": "hello"}, subject=None, time=None)
    response = await api.post(EVENTS, json=event)
    assert response.status_code == 202, response.text
    (row,) = await journal(db)
    assert row["time"] is None and row["subject"] is None and row["data"] == {"text": "hello"}


async def test_a_binary_mode_cloudevent_takes_its_attributes_from_ce_headers(api, db):
    event_id = str(uuid.uuid4())
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "crm%2Ftests",
        "ce-type": "notifications.ping",
        "Content-Type": "application/json",
    }
    response = await api.post(EVENTS, content=b'{"chatId": "-100200300"}', headers=headers)
    assert response.status_code == 202, response.text
    (row,) = await journal(db)
    assert (row["id"], row["source"], row["type"]) == (event_id, "crm/tests", "notifications.ping")
    assert row["data"] == {"chatId": "-100200300"}


async def test_a_repeated_id_is_accepted_as_a_duplicate_and_not_processed_again(api, db):
    event = cloudevent()
    first = await api.post(EVENTS, json=event)
    again = await api.post(EVENTS, json={**event, "data": {"changed": True}})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"event_id": event["id"], "duplicate": True}
    (row,) = await journal(db)
    assert row["data"] == event["data"]


async def test_twenty_concurrent_identical_events_are_journaled_once(api, db):
    event = cloudevent()
    answers = await asyncio.gather(*(api.post(EVENTS, json=event) for _ in range(20)))
    assert {answer.status_code for answer in answers} == {202}
    assert sum(not answer.json()["duplicate"] for answer in answers) == 1
    assert len(await journal(db)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (json.dumps(cloudevent(id=None)).encode(), "id"),
        (json.dumps(cloudevent(id="")).encode(), "id"),
        (json.dumps(cloudevent(source=None)).encode(), "source"),
        (json.dumps(cloudevent(type=None)).encode(), "type"),
        (json.dumps(cloudevent(specversion="0.3")).encode(), "specversion"),
        (json.dumps(cloudevent(time="yesterday")).encode(), "time"),
        (json.dumps(cloudevent(time="2026-12-01T09:00:00")).encode(), "time"),
        (json.dumps(cloudevent(data=[1, 2])).encode(), "data"),
        (json.dumps(cloudevent(data={"chatId": "nobody"})).encode(), "data.chatId"),
        (json.dumps(cloudevent(type="has/slash")).encode(), "type"),
        (json.dumps(cloudevent(id="x" * 201)).encode(), "id"),
        (json.dumps(cloudevent(id="a\u0000b")).encode(), "id"),
        (json.dumps({**cloudevent(), "Bad_Extension": 1}).encode(), "Bad_Extension"),
    ],
)
async def test_a_malformed_event_is_a_422_naming_the_field_and_nothing_is_journaled(api, db, body, field):
    response = await api.post(EVENTS, content=body, headers=STRUCTURED)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await journal(db) == []


@pytest.mark.parametrize("role", ["ROLE_SELLER", "ROLE_EXECUTOR", "ROLE_USER"])
async def test_only_admins_and_managers_may_post_events(api, db, role):
    refused = await api.post(EVENTS, json=cloudevent(), headers=bearer(uuid.uuid4(), role))
    taken = await api.post(EVENTS, json=cloudevent(), headers=bearer(uuid.uuid4(), "ROLE_MANAGER"))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert taken.status_code == 202
    assert len(await journal(db)) == 1


async def test_without_a_broker_the_health_says_the_consumer_is_disabled(api):
    response = await api.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "disabled" and body["consumer"]["state"] == "disabled"
    assert body["broker"] == {"configured": False}


async def test_the_health_is_for_admins_and_managers(api):
    assert (await api.get(HEALTH, headers=bearer(uuid.uuid4(), "ROLE_SELLER"))).status_code == 403
    assert (await api.get(HEALTH, headers=bearer(uuid.uuid4(), "ROLE_MANAGER"))).status_code == 200


async def test_readiness_reports_the_consumer_without_failing_when_no_broker_is_configured(api):
    response = await api.get("/readyz")
    assert response.status_code == 200
    component = response.json()["components"]["inbound_events"]
    assert component["required"] is False and component["configured"] is False and component["ok"] is True


async def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(api, db):
    event = cloudevent()
    headers = {"Idempotency-Key": f"inbound-{uuid.uuid4()}"}
    first = await api.post(EVENTS, json=event, headers=headers)
    again = await api.post(EVENTS, json=event, headers=headers)
    assert first.status_code == again.status_code == 202
    # The first answer is replayed, not a second processing that would call the event a duplicate.
    assert again.json() == first.json() == {"event_id": event["id"], "duplicate": False}
    assert len(await journal(db)) == 1
