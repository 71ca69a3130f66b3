"""Calculation workflow and the requirements for `ready`, without I/O."""

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crm.domain.calculations.rules import (
    READ_ONLY_STATUSES,
    CalculationStatus,
    missing_for_ready,
    transition_refusal,
)
from crm.domain.calculations.schemas import CalculationCreate, CalculationStatusChange, ValidityPeriod

S = CalculationStatus
ALLOWED = {(S.DRAFT, S.READY), (S.READY, S.CONFIRMED), (S.READY, S.ARCHIVED), (S.CONFIRMED, S.ARCHIVED)}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_only_the_contract_moves_are_allowed(current, target):
    refusal = transition_refusal(current, target)
    if current == target or (current, target) in ALLOWED:
        assert refusal is None
    else:
        assert refusal


def test_archived_is_final_and_says_so():
    assert transition_refusal(S.ARCHIVED, S.DRAFT) == "an archived calculation is final"


def test_refusal_names_the_allowed_moves():
    assert transition_refusal(S.DRAFT, S.CONFIRMED) == "a draft calculation can only become ready"


def test_confirmed_and_archived_are_read_only():
    assert frozenset({S.CONFIRMED, S.ARCHIVED}) == READ_ONLY_STATUSES


def test_complete_calculation_misses_nothing():
    assert (
        missing_for_ready(
            files=["a.pdf"],
            program_name="CASCO",
            premium_amount=Decimal("0.00"),
            validity_start=date(2026, 1, 1),
            validity_end=date(2026, 12, 31),
        )
        == []
    )


def test_empty_calculation_misses_everything_in_order():
    missing = missing_for_ready(
        files=[], program_name=None, premium_amount=None, validity_start=None, validity_end=None
    )
    assert missing == ["files", "program_name", "premium_amount", "validity_period"]


@pytest.mark.parametrize(("start", "end"), [(date(2026, 1, 1), None), (None, date(2026, 1, 1))])
def test_half_open_validity_period_is_not_enough_for_ready(start, end):
    missing = missing_for_ready(
        files=["a.pdf"], program_name="P", premium_amount=Decimal(1), validity_start=start, validity_end=end
    )
    assert missing == ["validity_period"]


def test_validity_period_end_before_start_is_rejected():
    with pytest.raises(ValidationError, match="end must not be before start"):
        ValidityPeriod(start=date(2026, 2, 1), end=date(2026, 1, 31))


def test_one_day_validity_period_is_fine():
    assert ValidityPeriod(start=date(2026, 2, 1), end=date(2026, 2, 1)).is_complete


def test_validity_period_cannot_end_on_the_last_representable_day():
    with pytest.raises(ValidationError):
        ValidityPeriod(start=date(2026, 1, 1), end=date.max)


def test_period_without_bounds_means_no_period():
    data = CalculationCreate.model_validate(
        {"insurance_company": "X", "calculation_date": "2026-01-01", "validity_period": {"start": None, "end": None}}
    )
    assert data.validity_period is None


@pytest.mark.parametrize("amount", ["-0.01", -5])
def test_negative_premium_is_rejected(amount):
    with pytest.raises(ValidationError, match="must not be negative"):
        CalculationCreate.model_validate(
            {"insurance_company": "X", "calculation_date": "2026-01-01", "premium_amount": amount}
        )


def test_policy_id_only_with_confirmed():
    policy = "0b7e1c52-3f4a-4d7e-9f0a-2c1b5e8d7a61"
    assert CalculationStatusChange.model_validate({"status": "confirmed", "policy_id": policy}).policy_id
    with pytest.raises(ValidationError, match="only be given with status confirmed"):
        CalculationStatusChange.model_validate({"status": "archived", "policy_id": policy})
