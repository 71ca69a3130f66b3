"""Payment rules without storage: the derived status, dates, corrections and currency."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.domain.errors import (
    ActualDateBeforePlannedDate,
    ActualDateInFuture,
    CorrectionNeedsNote,
    CurrencyMismatch,
    PostedAtInFuture,
)
from crm.domain.payments.rules import (
    check_actual_date,
    check_correction,
    check_currency,
    check_posted_at,
    derive_status,
)
from crm.domain.payments.schemas import IncomeCreate, PaymentCreate, PaymentStatus

TODAY = date(2027, 3, 10)
money = st.decimals(min_value=Decimal("-10000"), max_value=Decimal("10000"), places=2)
planned = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000"), places=2)
days = st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 6, 1))


@given(cancelled=st.booleans(), planned_amount=planned, incomes=money, planned_date=days)
def test_status_invariant(cancelled, planned_amount, incomes, planned_date):
    status = derive_status(
        cancelled=cancelled,
        planned_amount=planned_amount,
        incomes_total=incomes,
        planned_date=planned_date,
        today=TODAY,
    )
    if cancelled:
        assert status == PaymentStatus.CANCELLED
    elif incomes >= planned_amount:
        assert status == PaymentStatus.PAID
    elif incomes > 0:
        assert status == PaymentStatus.PARTIALLY_PAID
    else:
        assert status == (PaymentStatus.OVERDUE if planned_date < TODAY else PaymentStatus.SCHEDULED)


def test_due_today_with_nothing_paid_is_still_scheduled():
    status = derive_status(
        cancelled=False, planned_amount=Decimal(1), incomes_total=Decimal(0), planned_date=TODAY, today=TODAY
    )
    assert status == PaymentStatus.SCHEDULED


def test_actual_date_rules():
    check_actual_date(None, TODAY, TODAY)
    check_actual_date(TODAY, TODAY, TODAY)
    with pytest.raises(ActualDateBeforePlannedDate):
        check_actual_date(TODAY - timedelta(days=1), TODAY, TODAY)
    with pytest.raises(ActualDateInFuture):
        check_actual_date(TODAY + timedelta(days=1), TODAY - timedelta(days=3), TODAY)


def test_posted_at_correction_and_currency_rules():
    check_posted_at(TODAY, TODAY)
    with pytest.raises(PostedAtInFuture):
        check_posted_at(TODAY + timedelta(days=1), TODAY)
    check_correction(Decimal("-1.00"), "refund")
    with pytest.raises(CorrectionNeedsNote):
        check_correction(Decimal("-1.00"), " ")
    check_currency("RUB", "RUB")
    with pytest.raises(CurrencyMismatch):
        check_currency("USD", "RUB")


@pytest.mark.parametrize("amount", ["0", "-1", "0.001", "1000000000000", "NaN"])
def test_planned_amount_must_be_a_positive_two_place_amount(amount):
    with pytest.raises(ValueError):
        PaymentCreate(planned_date=TODAY, planned_amount=amount)


def test_line_amount_may_be_negative_but_not_zero():
    assert IncomeCreate(amount="-5", category="refund", posted_at=TODAY).amount == Decimal("-5.00")
    with pytest.raises(ValueError):
        IncomeCreate(amount="0.00", category="refund", posted_at=TODAY)
