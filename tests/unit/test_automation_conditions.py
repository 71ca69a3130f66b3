"""Tests of an event's data (the `where` of an event rule) and the loop rule, as plain functions."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from pydantic import TypeAdapter, ValidationError

from crm.domain.automation.rules import MAX_CASCADE, is_loop, passes, passes_all
from crm.domain.automation.schemas import Action, DataCondition, RuleCreate

DATA = {
    "new_stage": "proposal",
    "payment": {"planned_amount": "1500.00", "status": "overdue", "planned_date": "2026-11-30"},
    "count": 3,
    "owner_id": None,
}


@pytest.mark.parametrize(
    ("path", "op", "value", "expected"),
    [
        ("new_stage", "eq", "proposal", True),
        ("new_stage", "eq", "won", False),
        ("new_stage", "ne", "won", True),
        ("missing", "ne", "won", True),
        ("missing", "eq", None, False),
        ("new_stage", "in", ["negotiation", "proposal"], True),
        ("new_stage", "not_in", ["negotiation", "proposal"], False),
        ("missing", "not_in", ["x"], True),
        ("payment.planned_amount", "eq", 1500, True),  # money is served as text, compared as a decimal
        ("payment.planned_amount", "gte", "1500", True),
        ("payment.planned_amount", "gt", 1500, False),
        ("payment.planned_amount", "lt", "1500.01", True),
        ("payment.planned_date", "lt", "2026-12-01", True),
        ("payment.planned_date", "gte", "2026-12-01", False),
        ("payment.status", "gt", 3, False),  # text against a number: never ordered
        ("count", "lte", 3, True),
        ("payment.status", "exists", None, True),
        ("owner_id", "exists", None, False),
        ("owner_id", "absent", None, True),
        ("payment.nothing", "absent", None, True),
        ("new_stage.deeper", "exists", None, False),
    ],
)
def test_a_data_condition_reads_the_field_its_path_names(path, op, value, expected):
    assert passes(DataCondition(path=path, op=op, value=value), DATA) is expected


def test_every_condition_must_pass():
    conditions = [
        DataCondition(path="new_stage", op="eq", value="proposal"),
        DataCondition(path="count", op="gt", value=5),
    ]
    assert passes_all(conditions[:1], DATA) is True
    assert passes_all(conditions, DATA) is False
    assert passes_all([], DATA) is True


def test_text_that_looks_like_a_number_is_compared_as_text_with_text():
    assert passes(DataCondition(path="code", op="eq", value="007"), {"code": "7"}) is False
    assert passes(DataCondition(path="code", op="eq", value=7), {"code": "7.0"}) is True


@pytest.mark.parametrize(
    ("op", "value"),
    [("in", "one"), ("in", []), ("eq", ["a"]), ("gt", None), ("gt", True), ("exists", "x")],
)
def test_a_condition_refuses_a_value_that_does_not_fit_its_operator(op, value):
    with pytest.raises(ValidationError):
        DataCondition(path="x", op=op, value=value)


def test_a_rule_firing_on_what_its_own_firing_caused_is_a_loop():
    rule, other = uuid.uuid4(), uuid.uuid4()
    assert is_loop(rule, ()) is False
    assert is_loop(rule, (other,)) is False
    assert is_loop(rule, (rule,)) is True
    assert is_loop(rule, (rule, other)) is True  # through another rule
    assert is_loop(rule, tuple(uuid.uuid4() for _ in range(MAX_CASCADE))) is True


def test_set_field_takes_the_values_patch_deals_takes_for_that_field():
    actions = TypeAdapter(Action)
    action = actions.validate_python({"kind": "set_field", "field": "next_review_at", "value": "2026-12-31"})
    assert (action.field, action.value) == ("next_review_at", date(2026, 12, 31))
    for refused in (
        {"kind": "set_field", "field": "next_review_at", "value": "tomorrow"},
        {"kind": "set_field", "field": "title", "value": None},
        {"kind": "set_field", "field": "status", "value": "won"},
        {"kind": "set_field", "field": "owner_id", "value": "someone"},
    ):
        with pytest.raises(ValidationError):
            actions.validate_python(refused)


def test_a_rule_names_its_trigger_and_action_kinds():
    with pytest.raises(ValidationError) as refused:
        RuleCreate.model_validate({"name": "x", "trigger": {"kind": "someday"}, "action": {"kind": "notify"}})
    assert "trigger" in str(refused.value)
