"""Confirming a calculation with a policy: only a live policy of the same deal, one calculation per policy."""

from __future__ import annotations

import asyncio
import uuid

from tests.factories import assert_problem, make_deal, make_policy
from tests.integration.calculations import make_in_status, move, url
from tests.outbox import event_data, outbox_rows
from tests.values import MISSING


async def test_confirm_without_a_policy(api):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, "confirmed")
    assert (made["status"], made["linked_policy_id"]) == ("confirmed", None)


async def test_confirm_links_a_policy_of_the_same_deal(api):
    deal = await make_deal(api)
    policy = (await make_policy(api, deal))["id"]
    made = await make_in_status(api, deal, "confirmed", policy_id=policy)
    assert made["linked_policy_id"] == policy
    archived = (await move(api, deal, made, "archived")).json()
    assert archived["linked_policy_id"] == policy


async def test_confirm_with_policy_of_another_deal_is_404(api):
    deal, other = await make_deal(api), await make_deal(api)
    foreign = (await make_policy(api, other))["id"]
    made = await make_in_status(api, deal, "ready")
    body = assert_problem(await move(api, deal, made, "confirmed", policy_id=foreign), 404, "policy_not_found")
    assert body["errors"][0]["field"] == "policy_id"
    assert (await api.get(url(deal, made))).json()["status"] == "ready"


async def test_confirm_with_unknown_or_deleted_policy_is_404(api):
    deal = await make_deal(api)
    deleted = (await make_policy(api, deal))["id"]
    assert (await api.delete(f"/api/v1/policies/{deleted}")).status_code == 204
    made = await make_in_status(api, deal, "ready")
    assert_problem(await move(api, deal, made, "confirmed", policy_id=MISSING), 404, "policy_not_found")
    assert_problem(await move(api, deal, made, "confirmed", policy_id=deleted), 404, "policy_not_found")


async def test_relinking_a_policy_unlinks_the_previous_calculation(api, db):
    deal = await make_deal(api)
    policy = (await make_policy(api, deal))["id"]
    first = await make_in_status(api, deal, "confirmed", policy_id=policy)
    second = await make_in_status(api, deal, "ready", insurance_company="Alfa")
    before = len(await outbox_rows(db))

    response = await move(api, deal, second, "confirmed", policy_id=policy)
    assert response.status_code == 200, response.text
    assert response.json()["linked_policy_id"] == policy
    previous = (await api.get(url(deal, first))).json()
    assert (previous["status"], previous["linked_policy_id"], previous["version"]) == ("confirmed", None, 4)

    rows = (await outbox_rows(db))[before:]
    assert [r["routing_key"] for r in rows] == ["deal.calculation.updated", "deal.calculation.status.confirmed"]
    assert event_data(rows[0]) == previous  # unlinked: no policy_id
    assert event_data(rows[1]) == {**response.json(), "policy_id": policy}


async def test_an_archived_holder_also_gives_the_policy_up(api):
    deal = await make_deal(api)
    policy = (await make_policy(api, deal))["id"]
    first = await make_in_status(api, deal, "confirmed", policy_id=policy)
    await move(api, deal, first, "archived")
    second = await make_in_status(api, deal, "ready")
    assert (await move(api, deal, second, "confirmed", policy_id=policy)).status_code == 200
    assert (await api.get(url(deal, first))).json()["linked_policy_id"] is None


async def test_a_confirmed_calculation_cannot_change_its_policy(api):
    deal = await make_deal(api)
    policy, other_policy = (await make_policy(api, deal))["id"], (await make_policy(api, deal))["id"]
    made = await make_in_status(api, deal, "confirmed", policy_id=policy)
    response = await move(api, deal, made, "confirmed", policy_id=other_policy)
    assert_problem(response, 400, "calculation_update_forbidden", "policy_id")
    same = await move(api, deal, made, "confirmed", policy_id=policy)
    assert same.status_code == 200 and same.json()["version"] == made["version"]


async def test_concurrent_confirms_of_one_policy_leave_exactly_one_link(api, db):
    deal = await make_deal(api)
    policy = (await make_policy(api, deal))["id"]
    candidates = [await make_in_status(api, deal, "ready", insurance_company=f"Insurer {i}") for i in range(6)]
    responses = await asyncio.gather(*(move(api, deal, c, "confirmed", policy_id=policy) for c in candidates))
    for response in responses:
        if response.status_code != 200:
            assert_problem(response, 409, "policy_already_linked", "policy_id")
    assert any(r.status_code == 200 for r in responses)
    holders = await db.fetch("SELECT id FROM crm.calculations WHERE linked_policy_id = $1", uuid.UUID(policy))
    assert len(holders) == 1
