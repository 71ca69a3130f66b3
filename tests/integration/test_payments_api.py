"""Payments API: the money flow, statuses, dates, currency, history, events and races."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth import bearer
from tests.factories import (
    assert_problem,
    make_deal,
    make_payment,
    make_policy,
    payments_url,
    post_line,
)
from tests.outbox import event_data, outbox_rows, routing_keys
from tests.values import MISSING, day


async def get_payment(api, policy, payment):
    response = await api.get(payments_url(policy, payment["id"]))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_whole_money_flow(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_amount="1000.00", planned_date=day(10))
    assert payment["sequence"] == 1
    assert payment["status"] == "scheduled"
    assert payment["currency"] == policy["currency"]
    assert (payment["incomes_total"], payment["expenses_total"], payment["net_total"]) == ("0.00", "0.00", "0.00")

    await post_line(api, policy, payment, "incomes", "400")
    assert (await get_payment(api, policy, payment))["status"] == "partially_paid"

    await post_line(api, policy, payment, "incomes", "700.00", category="commission")
    expense = await post_line(api, policy, payment, "expenses", "100.00")
    current = await get_payment(api, policy, payment)
    assert current["status"] == "paid"
    assert (current["incomes_total"], current["expenses_total"], current["net_total"]) == (
        "1100.00",
        "100.00",
        "1000.00",
    )

    deleted = await api.delete(payments_url(policy, payment["id"], "expenses", expense["id"]))
    assert deleted.status_code == 204
    current = await get_payment(api, policy, payment)
    assert (current["expenses_total"], current["net_total"]) == ("0.00", "1100.00")

    refund = await post_line(api, policy, payment, "incomes", "-1100.00", category="refund", note="Client refund")
    assert refund["amount"] == "-1100.00"
    current = await get_payment(api, policy, payment)
    assert current["incomes_total"] == "0.00"
    assert current["status"] == "scheduled"

    embedded = (await api.get(payments_url(policy), params={"include": "incomes,expenses"})).json()["items"][0]
    assert [i["amount"] for i in embedded["incomes"]] == ["400.00", "700.00", "-1100.00"]
    assert embedded["expenses"] == []
    assert (await api.get(payments_url(policy))).json()["items"][0]["incomes"] is None

    history = (await api.get(payments_url(policy, payment["id"], "history"))).json()["items"]
    assert [(h["entity"], h["action"]) for h in history] == [
        ("income", "created"),
        ("expense", "deleted"),
        ("expense", "created"),
        ("income", "created"),
        ("income", "created"),
        ("payment", "created"),
    ]
    assert history[1]["before"]["is_deleted"] is False and history[1]["after"]["is_deleted"] is True

    keys = await routing_keys(db)
    assert keys[keys.index("deal.payment.created") :] == [
        "deal.payment.created",
        *["deal.payment.income.created", "deal.payment.updated"] * 2,
        "deal.payment.expense.created",
        "deal.payment.updated",
        "deal.payment.expense.deleted",
        "deal.payment.updated",
        "deal.payment.income.created",
        "deal.payment.updated",
    ]
    row = (await outbox_rows(db, routing_key="deal.payment.income.created"))[0]
    assert (row["aggregate_type"], str(row["aggregate_id"])) == ("deal", policy["deal_id"])
    data = event_data(row)
    assert data["payment_id"] == payment["id"] and data["policy_id"] == policy["id"]
    assert data["income"]["amount"] == "400.00" and "income_id" in data["income"]


async def test_overdue_and_cancel_and_admin_reopen(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_date=day(-5))
    assert payment["status"] == "overdue"
    cancelled = await api.post(payments_url(policy, payment["id"], "cancel"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    forbidden = await api.post(payments_url(policy, payment["id"], "reopen"), headers=bearer(uuid.uuid4(), "manager"))
    assert_problem(forbidden, 403, "forbidden")
    reopened = await api.post(payments_url(policy, payment["id"], "reopen"))
    assert reopened.status_code == 200 and reopened.json()["status"] == "overdue"
    history = (await api.get(payments_url(policy, payment["id"], "history"))).json()["items"]
    assert [h["action"] for h in history] == ["updated", "updated", "created"]


async def test_update_dates_and_currency_rules(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_date=day(-10))
    url = payments_url(policy, payment["id"])
    assert_problem(await api.patch(url, json={"actual_date": day(-11)}), 400, "actual_date_before_planned_date")
    assert_problem(await api.patch(url, json={"actual_date": day(2)}), 400, "actual_date_in_future", "actual_date")
    ok = await api.patch(url, json={"actual_date": day(-1), "currency": "usd"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200, ok.text
    assert ok.json()["currency"] == "USD" and ok.json()["actual_date"] == day(-1)
    assert_problem(await api.patch(url, json={"comment": "x"}, headers={"If-Match": '"1"'}), 412, "precondition_failed")
    await post_line(api, policy, ok.json(), "incomes", "10.00")
    assert_problem(await api.patch(url, json={"currency": "EUR"}), 409, "payment_has_transactions")
    assert_problem(await api.delete(url), 409, "payment_has_transactions")
    assert_problem(
        await api.post(
            payments_url(policy), json={"planned_date": day(0), "planned_amount": "1", "actual_date": day(3)}
        ),
        400,
        "actual_date_in_future",
    )


async def test_delete_and_restore(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    url = payments_url(policy, payment["id"])
    assert (await api.delete(url, headers={"If-Match": '"1"'})).status_code == 204
    assert_problem(await api.get(url), 404, "payment_not_found")
    assert (await api.get(payments_url(policy))).json()["items"] == []
    restored = await api.post(f"{url}/restore")
    assert restored.status_code == 200 and restored.json()["sequence"] == 1
    assert (await make_payment(api, policy))["sequence"] == 2
    keys = await routing_keys(db)
    assert keys[-4:] == [
        "deal.payment.created",
        "deal.payment.deleted",
        "deal.payment.restored",
        "deal.payment.created",
    ]


async def test_policy_of_another_deal_or_deleted_is_not_found_on_every_route(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    other_deal = await make_deal(api)
    wrong = {**policy, "deal_id": other_deal["id"]}
    pid = payment["id"]
    routes = [
        ("GET", payments_url(wrong), None),
        ("POST", payments_url(wrong), {"planned_date": day(1), "planned_amount": "5"}),
        ("GET", payments_url(wrong, pid), None),
        ("PATCH", payments_url(wrong, pid), {"comment": "x"}),
        ("DELETE", payments_url(wrong, pid), None),
        ("POST", payments_url(wrong, pid, "restore"), None),
        ("POST", payments_url(wrong, pid, "cancel"), None),
        ("POST", payments_url(wrong, pid, "reopen"), None),
        ("GET", payments_url(wrong, pid, "history"), None),
        ("GET", payments_url(wrong, pid, "incomes"), None),
        ("POST", payments_url(wrong, pid, "incomes"), {"amount": "1", "category": "premium", "posted_at": day(0)}),
        ("GET", payments_url(wrong, pid, "expenses", MISSING), None),
        ("PATCH", payments_url(wrong, pid, "expenses", MISSING), {"note": "x"}),
        ("DELETE", payments_url(wrong, pid, "incomes", MISSING), None),
    ]
    for method, url, body in routes:
        assert_problem(await api.request(method, url, json=body), 404, "policy_not_found")
    # A deleted policy: its payments must go first (policy_has_payments), then every route is 404.
    assert (await api.delete(payments_url(policy, pid))).status_code == 204
    assert (await api.delete(f"/api/v1/policies/{policy['id']}")).status_code == 204
    assert_problem(await api.get(payments_url(policy)), 404, "policy_not_found")
    assert_problem(await api.post(payments_url(policy, pid, "restore")), 404, "policy_not_found")


async def test_unknown_ids(api):
    policy = await make_policy(api)
    assert_problem(await api.get(payments_url(policy, MISSING)), 404, "payment_not_found")
    assert_problem(await api.get(payments_url({**policy, "id": MISSING})), 404, "policy_not_found")
    payment = await make_payment(api, policy)
    assert_problem(await api.get(payments_url(policy, payment["id"], "incomes", MISSING)), 404, "income_not_found")
    assert_problem(await api.delete(payments_url(policy, payment["id"], "expenses", MISSING)), 404, "expense_not_found")
    assert (await api.get(payments_url(policy, "not-a-uuid"))).status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"planned_amount": "10.001"}, "planned_amount"),
        ({"planned_amount": "1234567890123"}, "planned_amount"),
        ({"planned_amount": "0"}, "planned_amount"),
        ({"planned_amount": "-5"}, "planned_amount"),
        ({"planned_amount": True}, "planned_amount"),
        ({"planned_amount": [1]}, "planned_amount"),
        ({"planned_date": "tomorrow"}, "planned_date"),
        ({"currency": "RUBX"}, "currency"),
        ({"comment": "a\x00b"}, "comment"),
        ({"comment": "x" * 2001}, "comment"),
        ({"sequence": 5}, "sequence"),
        ({"planned_amount": 10**20}, "planned_amount"),
        ({"planned_amount": 2**31 + 0.001}, "planned_amount"),
        ({"status": "paid"}, "status"),
    ],
)
async def test_bad_payment_input_is_a_field_error(api, body, field):
    policy = await make_policy(api)
    response = await api.post(payments_url(policy), json={"planned_date": day(1), "planned_amount": "5", **body})
    assert response.status_code == 422, response.text
    assert any(field in e["field"] for e in response.json()["errors"]), response.json()


async def test_twenty_concurrent_creations_get_sequences_one_to_twenty(api, db):
    policy = await make_policy(api)
    body = {"planned_date": day(1), "planned_amount": "10.00"}
    responses = await asyncio.gather(*(api.post(payments_url(policy), json=body) for _ in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    assert sorted(r.json()["sequence"] for r in responses) == list(range(1, 21))
    page = (await api.get(payments_url(policy), params={"limit": 7, "with_total": "true"})).json()
    assert page["total"] == 20 and [p["sequence"] for p in page["items"]] == list(range(1, 8))
    second = (await api.get(payments_url(policy), params={"limit": 7, "cursor": page["next_cursor"]})).json()
    assert [p["sequence"] for p in second["items"]] == list(range(8, 15))


async def test_fifty_concurrent_incomes_leave_exact_totals(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_amount="100000.00")
    amounts = [f"{i}.{i % 100:02d}" for i in range(1, 51)]
    url = payments_url(policy, payment["id"], "incomes")
    responses = await asyncio.gather(
        *(api.post(url, json={"amount": a, "category": "premium", "posted_at": day(-1)}) for a in amounts)
    )
    assert [r.status_code for r in responses] == [201] * 50
    stored = await db.fetchrow(
        "SELECT incomes_total, net_total, (SELECT sum(amount) FROM crm.payment_incomes WHERE payment_id = $1) AS s"
        " FROM crm.payments WHERE id = $1",
        uuid.UUID(payment["id"]),
    )
    assert stored["incomes_total"] == stored["s"] == stored["net_total"]
    assert str(stored["s"]) == (await get_payment(api, policy, payment))["incomes_total"]


async def test_actor_ids_come_from_the_caller_and_reach_the_history(api, db):
    actor = str(uuid.uuid4())
    headers = bearer(actor, "admin")
    policy = await make_policy(api)
    created = await api.post(
        payments_url(policy), json={"planned_date": day(1), "planned_amount": "3"}, headers=headers
    )
    payment = created.json()
    assert payment["recorded_by_id"] == actor and payment["created_by_id"] == actor
    assert created.headers["ETag"] == '"1-scheduled"'
    assert created.headers["Location"] == payments_url(policy, payment["id"])
    line = await api.post(
        payments_url(policy, payment["id"], "incomes"),
        json={"amount": "1", "category": "bonus", "posted_at": day(0)},
        headers=headers,
    )
    assert line.json()["created_by_id"] == actor
    history = (await api.get(payments_url(policy, payment["id"], "history"))).json()["items"]
    assert {h["actor_id"] for h in history} == {actor}
    assert history[0]["entity_id"] == line.json()["id"] and history[0]["before"] is None


async def test_payment_changes_emit_updated_with_totals(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    url = payments_url(policy, payment["id"])
    assert (await api.patch(url, json={"comment": "Second instalment"})).status_code == 200
    assert (await api.post(f"{url}/cancel")).status_code == 200
    assert (await api.post(f"{url}/cancel")).json()["status"] == "cancelled"
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows[-3:]] == [
        "deal.payment.created",
        "deal.payment.updated",
        "deal.payment.updated",
    ]
    data = event_data(rows[-1])
    assert data["deal_id"] == policy["deal_id"] and data["policy_id"] == policy["id"]
    assert data["payment"]["status"] == "cancelled" and data["payment"]["net_total"] == "0.00"
    assert "incomes" not in data["payment"]


async def test_unknown_include_is_a_field_error(api):
    policy = await make_policy(api)
    response = await api.get(payments_url(policy), params={"include": "incomes,notes"})
    assert_problem(response, 422, "validation_error", "include")  # the pattern the document states


async def test_idempotent_payment_creation(api, db):
    policy = await make_policy(api)
    body = {"planned_date": day(1), "planned_amount": "3"}
    headers = {"Idempotency-Key": "pay-once"}
    first = await api.post(payments_url(policy), json=body, headers=headers)
    again = await api.post(payments_url(policy), json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert await db.fetchval("SELECT count(*) FROM crm.payments") == 1


async def test_policy_with_live_payments_cannot_be_deleted(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    assert_problem(await api.delete(f"/api/v1/policies/{policy['id']}"), 409, "policy_has_payments")
    assert (await api.delete(payments_url(policy, payment["id"]))).status_code == 204
    assert (await api.delete(f"/api/v1/policies/{policy['id']}")).status_code == 204


async def test_get_payment_with_current_etag_is_not_modified(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    etag = f'"{payment["version"]}-scheduled"'
    response = await api.get(payments_url(policy, payment["id"]), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["etag"] == etag


async def test_a_payment_that_became_overdue_is_not_served_as_not_modified(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    created_etag = (await api.get(payments_url(policy, payment["id"]))).headers["etag"]
    # Its planned date passes without a payment: same version, another status.
    await db.execute("UPDATE crm.payments SET planned_date = current_date - 3 WHERE id = $1", uuid.UUID(payment["id"]))
    response = await api.get(payments_url(policy, payment["id"]), headers={"If-None-Match": created_etag})
    assert response.status_code == 200
    assert response.json()["status"] == "overdue"
    assert response.headers["etag"] == f'"{payment["version"]}-overdue"'
    changed = await api.patch(
        payments_url(policy, payment["id"]), json={"comment": "Called"}, headers={"If-Match": created_etag}
    )
    assert changed.status_code == 200, changed.text
