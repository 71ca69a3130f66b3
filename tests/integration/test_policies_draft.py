"""A broker records a policy before it is issued: a draft may lack its premium and cover dates."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.factories import assert_problem, make_deal


def draft_of(deal):
    return {"policy_number": f"DRAFT-{uuid.uuid4().hex[:8]}", "client_id": deal["client_id"], "deal_id": deal["id"]}


async def test_a_draft_needs_only_its_number_client_and_deal(api):
    deal = await make_deal(api)

    response = await api.post("/api/v1/policies", json=draft_of(deal))

    assert response.status_code == 201, response.text
    policy = response.json()
    assert policy["status"] == "draft"
    assert (policy["premium"], policy["effective_from"], policy["effective_to"]) == (None, None, None)
    assert policy["currency"] == "RUB"


async def test_an_active_policy_needs_its_premium_and_cover_dates(api):
    deal = await make_deal(api)

    response = await api.post("/api/v1/policies", json={**draft_of(deal), "status": "active", "premium": "10.00"})

    body = assert_problem(response, 422, "policy_terms_required")
    assert {e["field"] for e in body["errors"]} == {"effective_from", "effective_to"}


async def test_activating_a_draft_names_the_missing_terms(api):
    deal = await make_deal(api)
    draft = (await api.post("/api/v1/policies", json=draft_of(deal))).json()
    url = f"/api/v1/policies/{draft['id']}"

    refused = await api.patch(url, json={"status": "active", "effective_from": "2027-01-01"})

    body = assert_problem(refused, 422, "policy_terms_required")
    assert {e["field"] for e in body["errors"]} == {"premium", "effective_to"}
    assert (await api.get(url)).json()["status"] == "draft"

    activated = await api.patch(
        url,
        json={"status": "active", "premium": "125000.00", "effective_from": "2027-01-01", "effective_to": "2027-12-31"},
    )
    assert activated.status_code == 200, activated.text
    assert (activated.json()["status"], activated.json()["premium"]) == ("active", "125000.00")


async def test_an_active_policy_cannot_lose_its_terms(api):
    deal = await make_deal(api)
    body = {**draft_of(deal), "status": "active", "premium": "1.00"}
    body |= {"effective_from": "2027-01-01", "effective_to": "2027-12-31"}
    policy = (await api.post("/api/v1/policies", json=body)).json()

    response = await api.patch(f"/api/v1/policies/{policy['id']}", json={"premium": None})

    assert_problem(response, 422, "policy_terms_required", "premium")


async def test_a_draft_can_be_cancelled_without_terms(api):
    deal = await make_deal(api)
    draft = (await api.post("/api/v1/policies", json=draft_of(deal))).json()

    response = await api.patch(f"/api/v1/policies/{draft['id']}", json={"status": "cancelled"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"


async def test_the_database_refuses_an_issued_policy_without_terms(api, db):
    deal = await make_deal(api)
    draft = (await api.post("/api/v1/policies", json=draft_of(deal))).json()

    with pytest.raises(asyncpg.CheckViolationError, match="ck_policies_issued_terms"):
        await db.execute("UPDATE crm.policies SET status = 'active' WHERE id = $1", uuid.UUID(draft["id"]))
