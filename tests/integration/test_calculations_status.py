"""Moving a calculation along its workflow (POST …/status): draft, ready, confirmed, archived, and what ready needs."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem, make_deal
from tests.integration.calculations import COMPLETE, make_calculation, make_in_status, move, url
from tests.outbox import outbox_rows
from tests.values import MISSING, day


async def test_draft_becomes_ready_then_confirmed_then_archived(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **COMPLETE)
    for status, version in [("ready", 2), ("confirmed", 3), ("archived", 4)]:
        response = await move(api, deal, made, status)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        assert response.headers["etag"] == f'"{version}"'


async def test_ready_can_be_archived(api):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, "ready")
    assert (await move(api, deal, made, "archived")).json()["status"] == "archived"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("draft", "confirmed"),
        ("draft", "archived"),
        ("ready", "draft"),
        ("confirmed", "ready"),
        ("confirmed", "draft"),
        ("archived", "confirmed"),
        ("archived", "ready"),
        ("archived", "draft"),
    ],
)
async def test_moves_outside_the_workflow_are_409(api, current, target):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, current)
    assert_problem(await move(api, deal, made, target), 409, "invalid_status_transition", "status")
    assert (await api.get(url(deal, made))).json()["status"] == current


@pytest.mark.parametrize("status", ["draft", "ready", "confirmed", "archived"])
async def test_asking_for_the_current_status_changes_nothing(api, db, status):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, status)
    before = len(await outbox_rows(db))
    response = await move(api, deal, made, status)
    assert response.status_code == 200
    assert response.json() == made
    assert len(await outbox_rows(db)) == before


async def test_ready_needs_everything_and_names_every_gap(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    body = assert_problem(await move(api, deal, made, "ready"), 400, "files_required_for_ready")
    assert [e["field"] for e in body["errors"]] == ["files", "program_name", "premium_amount", "validity_period"]


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ({"files": []}, "files_required_for_ready"),
        ({"program_name": None}, "program_required_for_ready"),
        ({"premium_amount": None}, "premium_required_for_ready"),
        ({"validity_period": None}, "validity_period_required_for_ready"),
        ({"validity_period": {"start": None, "end": day(9)}}, "validity_period_required_for_ready"),
        ({"validity_period": {"start": day(1), "end": None}}, "validity_period_required_for_ready"),
    ],
)
async def test_each_ready_requirement_has_its_code(api, missing, code):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **{k: v for k, v in {**COMPLETE, **missing}.items() if v is not None})
    body = assert_problem(await move(api, deal, made, "ready"), 400, code)
    assert [e["field"] for e in body["errors"]] == [next(iter(missing))]


async def test_zero_premium_counts_as_a_premium(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **{**COMPLETE, "premium_amount": "0"})
    assert (await move(api, deal, made, "ready")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({}, "status"),
        ({"status": None}, "status"),
        ({"status": "ready", "policy_id": MISSING}, "policy_id"),
        ({"status": "archived", "policy_id": MISSING}, "policy_id"),
        ({"status": "confirmed", "policy_id": "nope"}, "policy_id"),
        ({"status": "confirmed", "policy_id": 2**40}, "policy_id"),
        ({"status": "ready", "extra": 1}, "extra"),
    ],
)
async def test_invalid_status_body_is_422(api, body, field):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, "ready")
    assert_problem(await api.post(url(deal, made, "/status"), json=body), 422, "validation_error", field)


async def test_status_change_with_stale_if_match_is_412(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **COMPLETE)
    response = await api.post(url(deal, made, "/status"), json={"status": "ready"}, headers={"If-Match": '"7"'})
    assert_problem(response, 412, "precondition_failed")
    ok = await api.post(url(deal, made, "/status"), json={"status": "ready"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
