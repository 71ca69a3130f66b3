"""A deleted income or expense comes back with POST …/restore and counts in the payment's totals again."""

from __future__ import annotations

from tests.factories import assert_problem, make_payment, make_policy, payments_url, post_line
from tests.outbox import routing_keys


async def test_a_restored_income_counts_in_the_totals_again(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_amount="1000.00")
    income = await post_line(api, policy, payment, "incomes", "400.00")
    url = payments_url(policy, payment["id"], "incomes", income["id"])
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(payments_url(policy, payment["id"]))).json()["incomes_total"] == "0.00"

    restored = await api.post(f"{url}/restore")

    assert restored.status_code == 200, restored.text
    assert restored.json()["is_deleted"] is False
    after = (await api.get(payments_url(policy, payment["id"]))).json()
    assert (after["incomes_total"], after["net_total"], after["status"]) == ("400.00", "400.00", "partially_paid")
    assert (await routing_keys(db))[-2:] == ["deal.payment.income.restored", "deal.payment.updated"]
    history = (await api.get(payments_url(policy, payment["id"], "history"))).json()["items"]
    assert (history[0]["entity"], history[0]["action"]) == ("income", "restored")


async def test_a_restored_expense_counts_in_the_totals_again(api, db):
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    expense = await post_line(api, policy, payment, "expenses", "50.00")
    url = payments_url(policy, payment["id"], "expenses", expense["id"])
    await api.delete(url)

    assert (await api.post(f"{url}/restore")).status_code == 200

    after = (await api.get(payments_url(policy, payment["id"]))).json()
    assert (after["expenses_total"], after["net_total"]) == ("50.00", "-50.00")
    assert (await routing_keys(db))[-2:] == ["deal.payment.expense.restored", "deal.payment.updated"]


async def test_an_income_is_not_restored_through_another_payment(api):
    policy = await make_policy(api)
    payment, other = await make_payment(api, policy), await make_payment(api, policy)
    income = await post_line(api, policy, payment, "incomes", "10.00")
    await api.delete(payments_url(policy, payment["id"], "incomes", income["id"]))

    response = await api.post(payments_url(policy, other["id"], "incomes", income["id"], "restore"))

    assert_problem(response, 404, "income_not_found")
