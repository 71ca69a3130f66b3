"""Keeping automation rules over HTTP: who may, what a rule must name, disabling, and reading the runs."""

from __future__ import annotations

import uuid

import pytest

from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID
from tests.auth import bearer
from tests.automation import RULES, make_rule, runs, stage_moved
from tests.factories import assert_problem
from tests.pipelines import make_pipeline, stage_id

TASK = {"kind": "create_task", "title": "Call the client", "due_in_hours": 24}


async def test_a_rule_is_created_enabled_and_read_back(api):
    rule = await make_rule(
        api,
        stage_moved("proposal"),
        TASK,
        conditions={"pipeline_id": str(SEEDED_PIPELINE_ID), "amount": {"currency": "RUB", "min": "1000"}},
    )
    assert rule["enabled"] is True and rule["enabled_at"] is not None
    assert rule["trigger"] == stage_moved("proposal")
    assert rule["conditions"]["amount"] == {"currency": "RUB", "min": "1000.00", "max": None}
    assert rule["action"] == {**TASK, "description": None, "priority": "normal"}
    fetched = await api.get(f"{RULES}/{rule['id']}")
    assert fetched.status_code == 200 and fetched.json() == rule
    listed = (await api.get(RULES)).json()["items"]
    assert [item["id"] for item in listed] == [rule["id"]]


async def test_disabling_a_rule_keeps_it_and_lists_it_as_disabled(api):
    rule = await make_rule(api, stage_moved("proposal"), TASK)
    response = await api.patch(f"{RULES}/{rule['id']}", json={"enabled": False})
    assert response.status_code == 200, response.text
    disabled = response.json()
    assert (disabled["enabled"], disabled["enabled_at"], disabled["version"]) == (False, None, rule["version"] + 1)
    assert [r["id"] for r in (await api.get(RULES, params={"enabled": "false"})).json()["items"]] == [rule["id"]]
    assert (await api.get(RULES, params={"enabled": "true"})).json()["items"] == []
    enabled = (await api.patch(f"{RULES}/{rule['id']}", json={"enabled": True})).json()
    assert enabled["enabled"] is True and enabled["enabled_at"] > rule["enabled_at"]


async def test_a_rule_change_with_a_stale_version_is_refused(api):
    rule = await make_rule(api, stage_moved("proposal"), TASK)
    await api.patch(f"{RULES}/{rule['id']}", json={"name": "Renamed"})
    stale = await api.patch(
        f"{RULES}/{rule['id']}", json={"enabled": False}, headers={"If-Match": f'"{rule["version"]}"'}
    )
    assert_problem(stale, 412, "precondition_failed")


@pytest.mark.parametrize("role", ["seller", "executor", "user"])
async def test_only_admins_and_managers_keep_or_read_rules(api, role):
    rule = await make_rule(api, stage_moved("proposal"), TASK)
    headers = bearer(uuid.uuid4(), role)
    body = {"name": "x", "trigger": stage_moved("won"), "action": TASK}
    assert_problem(await api.post(RULES, json=body, headers=headers), 403, "forbidden")
    assert_problem(await api.get(RULES, headers=headers), 403, "forbidden")
    assert_problem(await api.get(f"{RULES}/{rule['id']}/runs", headers=headers), 403, "forbidden")
    assert_problem(await api.patch(f"{RULES}/{rule['id']}", json={"enabled": False}, headers=headers), 403, "forbidden")
    manager = bearer(uuid.uuid4(), "manager")
    assert (await api.post(RULES, json=body, headers=manager)).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trigger": {"kind": "event", "event_type": "Deal Moved"}}, "trigger.event.event_type"),
        (
            {"trigger": {"kind": "deal_in_stage", "stage_id": str(uuid.uuid4()), "hours": 0}},
            "trigger.deal_in_stage.hours",
        ),
        ({"trigger": {"kind": "payment_overdue", "days": True}}, "trigger.payment_overdue.days"),
        (
            {
                "trigger": {
                    "kind": "event",
                    "event_type": "deal.updated",
                    "where": [{"path": "a", "op": "in", "value": 1}],
                }
            },
            "trigger.event.where.0",
        ),
        ({"conditions": {"amount": {"currency": "RUB"}}}, "conditions.amount"),
        ({"conditions": {"amount": {"currency": "RUB", "min": "10", "max": "5"}}}, "conditions.amount"),
        ({"action": {"kind": "set_field", "field": "status", "value": "won"}}, "action"),
        (
            {"action": {"kind": "set_field", "field": "next_review_at", "value": "soon"}},
            "action.set_field:next_review_at.value",
        ),
        ({"action": {"kind": "create_task"}}, "action.create_task.title"),
        ({"name": ""}, "name"),
    ],
)
async def test_a_malformed_rule_is_a_422_naming_the_field(api, body, field):
    rule = {"name": "A rule", "trigger": stage_moved("proposal"), "action": TASK, **body}
    problem = assert_problem(await api.post(RULES, json=rule), 422, "validation_error")
    fields = [error["field"] for error in problem["errors"]]
    assert any(name.startswith(field) for name in fields), fields


async def test_a_rule_naming_what_does_not_exist_is_a_422_naming_it(api):
    renewals = await make_pipeline(api)
    bad = [
        ({"trigger": {"kind": "deal_in_stage", "stage_id": str(uuid.uuid4()), "hours": 2}}, "trigger.stage_id"),
        ({"conditions": {"pipeline_id": str(uuid.uuid4())}}, "conditions.pipeline_id"),
        ({"action": {"kind": "move_stage", "stage": "nowhere"}}, "action.stage"),
        (
            {"conditions": {"pipeline_id": renewals["id"]}, "action": {"kind": "move_stage", "stage": "proposal"}},
            "action.stage",
        ),
    ]
    for body, field in bad:
        rule = {"name": "A rule", "trigger": stage_moved("proposal"), "action": TASK, **body}
        assert_problem(await api.post(RULES, json=rule), 422, "validation_error", field)
    fine = {
        "name": "Quoted for a day",
        "trigger": {"kind": "deal_in_stage", "stage_id": stage_id(renewals, "quoted"), "hours": 24},
        "conditions": {"pipeline_id": renewals["id"]},
        "action": {"kind": "move_stage", "stage": "churned", "lost_reason": "Price too high"},
    }
    assert (await api.post(RULES, json=fine)).status_code == 201


async def test_unknown_rules_are_404(api):
    missing = uuid.uuid4()
    assert_problem(await api.get(f"{RULES}/{missing}"), 404, "automation_rule_not_found")
    assert_problem(await api.get(f"{RULES}/{missing}/runs"), 404, "automation_rule_not_found")
    assert_problem(await api.patch(f"{RULES}/{missing}", json={"enabled": False}), 404, "automation_rule_not_found")


async def test_a_new_rule_has_no_runs(api):
    rule = await make_rule(api, stage_moved("proposal"), TASK)
    assert await runs(api, rule) == []
    assert_problem(
        await api.get(f"{RULES}/{rule['id']}/runs", params={"status": "sometimes"}), 422, "validation_error", "status"
    )
