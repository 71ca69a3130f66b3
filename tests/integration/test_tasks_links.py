"""What a task may point at, on create and on PATCH: a live deal, client, policy or payment, or nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.factories import (
    TASKS,
    assert_problem,
    make_client,
    make_deal,
    make_payment,
    make_policy,
    make_task,
    payments_url,
)
from tests.values import MISSING


async def test_links_to_live_deal_client_and_policy(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    task = await make_task(api, deal_id=deal["id"], client_id=deal["client_id"], policy_id=policy["id"])
    assert (task["deal_id"], task["client_id"], task["policy_id"]) == (deal["id"], deal["client_id"], policy["id"])


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("deal_id", "deal_not_found"),
        ("client_id", "client_not_found"),
        ("policy_id", "policy_not_found"),
        ("payment_id", "payment_not_found"),
    ],
)
async def test_unknown_link_is_404(api, db, field, code):
    assert_problem(await api.post(TASKS, json={"title": "T", field: MISSING}), 404, code, field)
    task = await make_task(api)
    assert_problem(await api.patch(f"{TASKS}/{task['id']}", json={field: MISSING}), 404, code, field)
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 1


async def test_deleted_deal_client_or_policy_cannot_be_linked(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    assert (await api.delete(f"/api/v1/policies/{policy['id']}")).status_code == 204
    assert_problem(await api.post(TASKS, json={"title": "T", "policy_id": policy["id"]}), 404, "policy_not_found")
    assert (await api.delete(f"/api/v1/deals/{deal['id']}")).status_code == 204
    assert_problem(await api.post(TASKS, json={"title": "T", "deal_id": deal["id"]}), 404, "deal_not_found")
    client = await make_client(api, name="Gone")
    assert (await api.delete(f"/api/v1/clients/{client['id']}")).status_code == 204
    assert_problem(await api.post(TASKS, json={"title": "T", "client_id": client["id"]}), 404, "client_not_found")


async def test_a_link_waits_for_a_concurrent_deal_delete_and_then_refuses(api, db, database_url):
    deal = await make_deal(api)
    deleter = await asyncpg.connect(database_url)
    try:
        transaction = deleter.transaction()
        await transaction.start()
        # What DELETE /deals/{id} does: lock the deal, then mark it deleted.
        await deleter.execute("SELECT 1 FROM crm.deals WHERE id = $1 FOR UPDATE", uuid.UUID(deal["id"]))
        await deleter.execute("UPDATE crm.deals SET is_deleted = true WHERE id = $1", uuid.UUID(deal["id"]))
        create = asyncio.create_task(api.post(TASKS, json={"title": "T", "deal_id": deal["id"]}))
        await asyncio.sleep(0.3)
        assert not create.done()  # blocked on the deal's lock
        await transaction.commit()
        response = await create
    finally:
        await deleter.close()
    assert_problem(response, 404, "deal_not_found")
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 0


async def test_a_task_may_point_at_a_live_payment_only(api):
    response = await api.post(TASKS, json={"title": "T", "paymentId": str(uuid.uuid4())})
    assert_problem(response, 404, "payment_not_found", "payment_id")
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    response = await api.post(TASKS, json={"title": "T", "paymentId": payment["id"]})
    assert response.status_code == 201, response.text
    assert response.json()["payment_id"] == payment["id"]
    gone = await make_payment(api, policy)
    assert (await api.delete(payments_url(policy, gone["id"]))).status_code == 204
    response = await api.post(TASKS, json={"title": "T", "paymentId": gone["id"]})
    assert_problem(response, 404, "payment_not_found", "payment_id")


async def test_links_can_be_cleared(api):
    deal = await make_deal(api)
    task = await make_task(api, deal_id=deal["id"])
    response = await api.patch(f"{TASKS}/{task['id']}", json={"dealId": None})
    assert response.json()["deal_id"] is None
