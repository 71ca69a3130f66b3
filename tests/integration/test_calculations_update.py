"""Changing a calculation's fields (PATCH): what may change in which status, and the rules a ready one keeps."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem, make_deal
from tests.integration.calculations import COMPLETE, make_calculation, make_in_status, url
from tests.outbox import outbox_rows
from tests.values import MISSING, day


async def test_patch_changes_and_clears_fields(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **COMPLETE)
    response = await api.patch(
        url(deal, made),
        json={
            "premium_amount": "119000",
            "comments": None,
            "validity_period": {"start": day(2), "end": day(200)},
            "files": ["a.pdf", "b.pdf"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["premium_amount"] == "119000.00"
    assert body["comments"] is None
    assert body["validity_period"] == {"start": day(2), "end": day(200)}
    assert body["files"] == ["a.pdf", "b.pdf"]
    assert body["version"] == 2 and response.headers["etag"] == '"2"'
    cleared = await api.patch(url(deal, made), json={"validity_period": None, "program_name": None})
    assert (cleared.json()["validity_period"], cleared.json()["program_name"]) == (None, None)


@pytest.mark.parametrize("field", ["insurance_company", "calculation_date", "files"])
async def test_patch_cannot_clear_required_fields(api, field):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    assert_problem(await api.patch(url(deal, made), json={field: None}), 422, "rule_violation", field)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"premium_amount": -1}, "premium_amount"),
        ({"validity_period": {"start": day(3), "end": day(1)}}, "validity_period"),
        ({"files": ["x\x00"]}, "files.0"),
        ({"status": "ready"}, "status"),
        ({"linked_policy_id": MISSING}, "linked_policy_id"),
        ({"insurance_company": "x" * 256}, "insurance_company"),
    ],
)
async def test_invalid_patch_is_422(api, patch, field):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    assert_problem(await api.patch(url(deal, made), json=patch), 422, "validation_error", field)


async def test_patch_with_stale_if_match_is_412(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    ok = await api.patch(url(deal, made), json={"comments": "a"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    stale = await api.patch(url(deal, made), json={"comments": "b"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition_failed")
    assert stale.headers["etag"] == '"2"'


async def test_patch_without_real_change_keeps_the_version_and_records_nothing(api, db):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **COMPLETE)
    before = len(await outbox_rows(db))
    same = {k: COMPLETE[k] for k in ("premium_amount", "validity_period", "files", "insurance_company")}
    response = await api.patch(url(deal, made), json={**same, "premium_amount": 125000})
    assert response.json()["version"] == 1
    assert len(await outbox_rows(db)) == before


@pytest.mark.parametrize("status", ["confirmed", "archived"])
async def test_confirmed_and_archived_are_read_only(api, status):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, status)
    response = await api.patch(url(deal, made), json={"comments": "late edit"})
    assert_problem(response, 400, "calculation_update_forbidden")
    assert_problem(await api.delete(url(deal, made)), 400, "calculation_update_forbidden")
    assert (await api.get(url(deal, made))).json() == made


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"files": []}, "files_required_for_ready"),
        ({"program_name": None}, "program_required_for_ready"),
        ({"premium_amount": None}, "premium_required_for_ready"),
        ({"validity_period": None}, "validity_period_required_for_ready"),
        ({"validity_period": {"start": day(1), "end": None}}, "validity_period_required_for_ready"),
    ],
)
async def test_a_ready_calculation_must_stay_complete(api, patch, code):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, "ready")
    assert_problem(await api.patch(url(deal, made), json=patch), 400, code, next(iter(patch)))


async def test_a_ready_calculation_can_still_be_edited(api):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, "ready")
    response = await api.patch(url(deal, made), json={"premium_amount": "99.00", "comments": None})
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
