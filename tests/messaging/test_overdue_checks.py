"""The overdue check looks at each payment once per planned date, the first run after that date has passed."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import make_payment, make_policy, payments_url, post_line
from tests.messaging.support import run_job
from tests.outbox import event_data, outbox_rows
from tests.values import day, today


async def test_every_past_due_payment_is_checked_once_whatever_its_status(api, db, pool, settings):
    policy = await make_policy(api)
    overdue = await make_payment(api, policy, planned_date=day(-2))
    paid = await make_payment(api, policy, planned_date=day(-2))
    await post_line(api, policy, paid, "incomes", "1000.00")
    upcoming = await make_payment(api, policy)

    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 1}

    checked = dict(await db.fetch("SELECT id::text, overdue_checked_for FROM crm.payments"))
    assert checked[overdue["id"]] == checked[paid["id"]] == today() - timedelta(days=2)
    assert checked[upcoming["id"]] is None
    # The partial index holds only what is still to check.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM crm.payments"
            " WHERE NOT is_deleted AND overdue_checked_for IS DISTINCT FROM planned_date"
        )
        == 1
    )


async def test_a_payment_that_turns_overdue_by_a_write_is_told_by_that_write(api, db, pool, settings):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_date=day(-2))
    income = await post_line(api, policy, payment, "incomes", "1000.00")
    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 0}

    assert (await api.delete(payments_url(policy, payment["id"], "incomes", income["id"]))).status_code == 204

    last = (await outbox_rows(db))[-1]
    assert (last["routing_key"], event_data(last)["payment"]["status"]) == ("deal.payment.updated", "overdue")
    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 0}
