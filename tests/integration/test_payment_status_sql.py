"""The SQL form of a payment's status (``status_sql``, which the analytics count overdue instalments by) answers
what ``derive_status`` answers, for every kind of case around each of its boundaries."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from crm.domain.payments.rules import derive_status
from crm.infrastructure.db.payments import status_sql

TODAY = date(2026, 6, 15)
PLANNED = Decimal("100.00")


async def test_the_sql_status_is_derive_status_case_by_case(db):
    cases = list(
        itertools.product(
            (False, True),
            (Decimal("-5.00"), Decimal("0.00"), Decimal("0.01"), Decimal("99.99"), PLANNED, Decimal("150.00")),
            (TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=1)),
        )
    )
    expression = status_sql("p", "$4")

    for cancelled, incomes, planned_date in cases:
        served = await db.fetchval(
            f"SELECT {expression} FROM (SELECT CASE WHEN $1 THEN now() END AS cancelled_at, $2::numeric AS "
            "incomes_total, $3::numeric AS planned_amount, $5::date AS planned_date) p",
            cancelled,
            incomes,
            PLANNED,
            TODAY,
            planned_date,
        )
        expected = derive_status(
            cancelled=cancelled, planned_amount=PLANNED, incomes_total=incomes, planned_date=planned_date, today=TODAY
        )
        assert served == expected.value, (cancelled, incomes, planned_date)
