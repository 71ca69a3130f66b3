"""Small helpers that make records through the API, as a caller would."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.values import at, day

TASKS = "/api/v1/tasks"


async def make_client(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Acme Logistics LLC", "email": "office@acme.example", "phone": "+7 495 123-45-67", **fields}
    response = await api.post("/api/v1/clients", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def make_deal(api: httpx.AsyncClient, client_id: str | None = None, **fields: Any) -> dict[str, Any]:
    if client_id is None:
        client_id = (await make_client(api))["id"]
    body = {
        "client_id": client_id,
        "title": "Fleet CASCO renewal",
        "next_review_at": day(10),
        **fields,
    }
    response = await api.post("/api/v1/deals", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The answer is RFC 9457 problem+json with this status and code (and names ``field`` if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] and body["title"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, fields
    return body


async def make_policy(api: httpx.AsyncClient, deal: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A policy of ``deal`` (a new client and deal when not given), numbered uniquely unless told."""
    if deal is None:
        deal = await make_deal(api)
    body = {
        "policy_number": f"POL-{uuid.uuid4().hex[:12].upper()}",
        "client_id": deal["client_id"],
        "deal_id": deal["id"],
        "premium": "12500.00",
        "effective_from": day(0),
        "effective_to": day(364),
        **fields,
    }
    response = await api.post("/api/v1/policies", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def make_task(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """A pending task (``scheduled_for`` makes it scheduled); links and times as given."""
    response = await api.post(TASKS, json={"title": "Collect the signed application", **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def add_reminder(api: httpx.AsyncClient, task: dict[str, Any], *, channel: str = "telegram") -> dict[str, Any]:
    """A reminder of ``task`` an hour from now (the API takes only future ones) on ``channel``."""
    response = await api.post(f"{TASKS}/{task['id']}/reminders", json={"remind_at": at(1), "channel": channel})
    assert response.status_code == 201, response.text
    return response.json()


def payments_url(policy: dict[str, Any], *parts: str) -> str:
    """``/api/v1/deals/{deal}/policies/{policy}/payments[/part…]``."""
    return "/".join((f"/api/v1/deals/{policy['deal_id']}/policies/{policy['id']}/payments", *parts))


async def make_payment(api: httpx.AsyncClient, policy: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"planned_date": day(30), "planned_amount": "1000.00", **fields}
    response = await api.post(payments_url(policy), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def post_line(
    api: httpx.AsyncClient, policy: dict[str, Any], payment: dict[str, Any], kind: str, amount: str, **fields: Any
) -> dict[str, Any]:
    """An income or expense (``kind`` is ``incomes`` or ``expenses``) posted yesterday."""
    category = "premium" if kind == "incomes" else "agent_fee"
    body = {"amount": amount, "category": category, "posted_at": day(-1)}
    response = await api.post(payments_url(policy, payment["id"], kind), json={**body, **fields})
    assert response.status_code == 201, response.text
    return response.json()
