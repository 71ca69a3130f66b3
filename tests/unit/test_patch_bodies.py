"""PATCH bodies: a field that may be changed but never cleared is not nullable in its schema."""

import pytest

from crm.domain.calculations.schemas import CalculationUpdate
from crm.domain.clients.schemas import ClientUpdate
from crm.domain.deals.schemas import DealUpdate
from crm.domain.payments.schemas import ExpenseUpdate, IncomeUpdate, PaymentUpdate
from crm.domain.policies.schemas import PolicyUpdate
from crm.domain.tasks.schemas import TaskUpdate

PATCHES = [ClientUpdate, DealUpdate, CalculationUpdate, PolicyUpdate, PaymentUpdate, IncomeUpdate, ExpenseUpdate]


def _nullable(schema: dict) -> bool:
    return {"type": "null"} in schema.get("anyOf", []) or schema.get("type") == "null"


@pytest.mark.parametrize("model", [*PATCHES, TaskUpdate], ids=lambda m: m.__name__)
def test_only_the_fields_that_may_be_cleared_are_nullable(model):
    properties = model.model_json_schema()["properties"]
    assert model.NOT_NULLABLE
    for name, schema in properties.items():
        assert _nullable(schema) == (name not in model.NOT_NULLABLE), name
        if name in model.NOT_NULLABLE:
            assert "default" not in schema, name
