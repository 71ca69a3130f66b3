"""Deleting a calculation: it is hidden (soft delete) and gives up its policy; If-Match is honoured."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import assert_problem, make_deal
from tests.integration.calculations import make_calculation, make_in_status, url


@pytest.mark.parametrize("status", ["draft", "ready"])
async def test_delete_hides_the_calculation(api, db, status):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, status)
    assert (await api.delete(url(deal, made), headers={"If-Match": f'"{made["version"]}"'})).status_code == 204
    assert_problem(await api.get(url(deal, made)), 404, "calculation_not_found")
    assert (await api.get(url(deal))).json()["items"] == []
    assert_problem(await api.delete(url(deal, made)), 404, "calculation_not_found")
    row = await db.fetchrow(
        "SELECT is_deleted, linked_policy_id FROM crm.calculations WHERE id = $1", uuid.UUID(made["id"])
    )
    assert (row["is_deleted"], row["linked_policy_id"]) == (True, None)


async def test_delete_with_stale_if_match_is_412(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    assert_problem(await api.delete(url(deal, made), headers={"If-Match": '"2"'}), 412, "precondition_failed")
    assert (await api.get(url(deal, made))).status_code == 200
