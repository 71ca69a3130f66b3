"""Incomes and expenses of a payment: rules, corrections, events, the database's own checks, and a property."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import assert_problem, make_payment, make_policy, payments_url, post_line
from tests.outbox import event_data, outbox_rows
from tests.values import MISSING, day


def income(amount: str, **fields):
    return {"amount": amount, "category": "premium", "posted_at": day(-1), **fields}


async def test_currency_defaults_to_the_payment_and_must_match(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, currency="usd")
    url = payments_url(policy, payment["id"], "incomes")
    created = await api.post(url, json=income("5.00"))
    assert created.status_code == 201 and created.json()["currency"] == "USD"
    assert (await api.post(url, json=income("5.00", currency=" usd "))).status_code == 201
    assert_problem(await api.post(url, json=income("5.00", currency="EUR")), 400, "currency_mismatch", "currency")
    line_url = f"{url}/{created.json()['id']}"
    assert_problem(await api.patch(line_url, json={"currency": "RUB"}), 400, "currency_mismatch")


async def test_posted_at_may_not_be_in_the_future(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    url = payments_url(policy, payment["id"], "expenses")
    body = {"amount": "1.00", "category": "processing", "posted_at": day(2)}
    assert_problem(await api.post(url, json=body), 400, "posted_at_in_future", "posted_at")
    line = await post_line(api, policy, payment, "expenses", "1.00")
    assert_problem(await api.patch(f"{url}/{line['id']}", json={"posted_at": day(3)}), 400, "posted_at_in_future")


async def test_a_negative_line_is_a_correction_that_needs_a_note(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    url = payments_url(policy, payment["id"], "incomes")
    assert_problem(await api.post(url, json=income("-5.00")), 422, "correction_needs_note", "note")
    assert_problem(await api.post(url, json=income("-5.00", note="   ")), 422, "correction_needs_note")
    line = await post_line(api, policy, payment, "incomes", "5.00")
    assert_problem(await api.patch(f"{url}/{line['id']}", json={"amount": "-1.00"}), 422, "correction_needs_note")
    writeoff = await post_line(api, policy, payment, "incomes", "-2.00", note="Write-off")
    assert_problem(await api.patch(f"{url}/{writeoff['id']}", json={"note": None}), 422, "correction_needs_note")


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("incomes", income("0"), "amount"),
        ("incomes", income("0.00"), "amount"),
        ("incomes", income("1.005"), "amount"),
        ("incomes", income("1000000000000.00"), "amount"),
        ("incomes", income("abc"), "amount"),
        ("incomes", income(None), "amount"),
        ("incomes", income("1.00", category="agent_fee"), "category"),
        ("expenses", income("1.00"), "category"),
        ("incomes", income("1.00", note="a\x00b"), "note"),
        ("incomes", income("1.00", posted_at="2026-02-30"), "posted_at"),
        ("incomes", income("1.00", payment_id=MISSING), "payment_id"),
    ],
)
async def test_bad_line_input_is_a_field_error(api, kind, body, field):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    response = await api.post(payments_url(policy, payment["id"], kind), json=body)
    assert response.status_code == 422, response.text
    assert any(field in e["field"] for e in response.json()["errors"]), response.json()


async def test_update_moves_totals_and_records_previous(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_amount="500.00")
    line = await post_line(api, policy, payment, "incomes", "200.00")
    url = payments_url(policy, payment["id"], "incomes", line["id"])
    got = await api.get(url)
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    assert_problem(
        await api.patch(url, json={"amount": "600"}, headers={"If-Match": '"7"'}), 412, "precondition_failed"
    )
    changed = await api.patch(url, json={"amount": "600"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    current = (await api.get(payments_url(policy, payment["id"]))).json()
    assert (current["incomes_total"], current["status"]) == ("600.00", "paid")
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows[-2:]] == ["deal.payment.income.updated", "deal.payment.updated"]
    data = event_data(rows[-2])
    assert (data["income"]["amount"], data["previous"]["amount"]) == ("600.00", "200.00")
    assert data["income"]["income_id"] == line["id"]
    assert event_data(rows[-1])["payment"]["incomes_total"] == "600.00"
    history = (await api.get(payments_url(policy, payment["id"], "history"), params={"limit": 1})).json()
    assert history["items"][0]["before"]["amount"] == "200.00" and history["items"][0]["after"]["amount"] == "600.00"
    assert history["next_cursor"]


async def test_lines_list_and_deleted_payment(api):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    for amount in ("1.00", "2.00", "3.00"):
        await post_line(api, policy, payment, "expenses", amount)
    url = payments_url(policy, payment["id"], "expenses")
    first = (await api.get(url, params={"limit": 2, "with_total": "true"})).json()
    assert first["total"] == 3 and [e["amount"] for e in first["items"]] == ["1.00", "2.00"]
    rest = (await api.get(url, params={"cursor": first["next_cursor"]})).json()
    assert [e["amount"] for e in rest["items"]] == ["3.00"]
    other = await make_payment(api, policy)
    assert (await api.delete(payments_url(policy, other["id"]))).status_code == 204
    assert_problem(
        await api.post(payments_url(policy, other["id"], "incomes"), json=income("1")), 404, "payment_not_found"
    )
    assert_problem(await api.get(payments_url(policy, other["id"], "incomes")), 404, "payment_not_found")
    wrong = payments_url(policy, other["id"], "expenses", first["items"][0]["id"])
    assert_problem(await api.get(wrong), 404, "payment_not_found")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE crm.payments SET net_total = net_total + 1",
        "UPDATE crm.payments SET currency = 'usd'",
        "UPDATE crm.payments SET planned_amount = 0",
        "UPDATE crm.payment_incomes SET amount = 0",
        "UPDATE crm.payment_incomes SET amount = -1, note = NULL",
        "UPDATE crm.payment_incomes SET category = 'agent_fee'",
    ],
)
async def test_the_database_backs_the_rules(api, db, statement):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    await post_line(api, policy, payment, "incomes", "1.00")
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(statement)


LINE_OPS = st.lists(
    st.tuples(
        st.sampled_from(["add_income", "add_expense", "update", "delete"]),
        st.decimals(min_value=Decimal("-500"), max_value=Decimal("1500"), places=2).filter(lambda d: d != 0),
        st.integers(min_value=0, max_value=20),
    ),
    min_size=1,
    max_size=8,
)


async def test_totals_and_status_always_follow_the_live_lines(api, db):
    """Random line operations through the API: totals equal the sums of live lines, status follows them."""
    loop = asyncio.get_running_loop()
    policy = await make_policy(api)

    async def scenario(ops):
        payment = await make_payment(api, policy, planned_amount="1000.00", planned_date=day(5))
        live: dict[str, tuple[str, Decimal]] = {}
        for op, amount, pick in ops:
            if op.startswith("add"):
                kind = "incomes" if op == "add_income" else "expenses"
                line = await post_line(api, policy, payment, kind, str(amount), note="correction")
                live[line["id"]] = (kind, amount)
            elif live:
                line_id = sorted(live)[pick % len(live)]
                kind, _ = live[line_id]
                url = payments_url(policy, payment["id"], kind, line_id)
                if op == "update":
                    assert (await api.patch(url, json={"amount": str(amount)})).status_code == 200
                    live[line_id] = (kind, amount)
                else:
                    assert (await api.delete(url)).status_code == 204
                    del live[line_id]
        incomes = sum((a for k, a in live.values() if k == "incomes"), Decimal("0"))
        expenses = sum((a for k, a in live.values() if k == "expenses"), Decimal("0"))
        current = (await api.get(payments_url(policy, payment["id"]))).json()
        assert Decimal(current["incomes_total"]) == incomes
        assert Decimal(current["expenses_total"]) == expenses
        assert Decimal(current["net_total"]) == incomes - expenses
        expected = "paid" if incomes >= 1000 else "partially_paid" if incomes > 0 else "scheduled"
        assert current["status"] == expected

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(LINE_OPS)
    def check(ops):
        asyncio.run_coroutine_threadsafe(scenario(ops), loop).result(timeout=60)

    await asyncio.to_thread(check)


async def test_a_total_past_twelve_digits_is_refused_not_a_crash(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    await post_line(api, policy, payment, "incomes", "999999999999.99")
    response = await api.post(payments_url(policy, payment["id"], "incomes"), json=income("999999999999.99"))
    assert_problem(response, 422, "rule_violation", "amount")
    assert await db.fetchval("SELECT count(*) FROM crm.payment_incomes") == 1
