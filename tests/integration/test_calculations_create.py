"""Creating a calculation under a deal: what is stored and answered, defaults, money and periods, bad input."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.factories import assert_problem, make_deal
from tests.integration.calculations import COMPLETE, make_calculation, url
from tests.values import MISSING, day, today

TODAY = today()


async def test_create_calculation(api, db):
    deal = await make_deal(api)
    owner = str(uuid.uuid4())
    response = await api.post(url(deal), json={**COMPLETE, "owner_id": owner})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == url(deal, body)
    assert response.headers["etag"] == '"1"'
    expected = {**COMPLETE, "owner_id": owner, "deal_id": deal["id"], "status": "draft", "linked_policy_id": None}
    assert {k: body[k] for k in expected} == expected
    assert body["version"] == 1 and body["is_deleted"] is False
    # Stored half-open, served with an inclusive end.
    stored = await db.fetchrow(
        "SELECT lower(validity_period) AS lo, upper(validity_period) AS hi FROM crm.calculations WHERE id = $1",
        uuid.UUID(body["id"]),
    )
    assert (stored["lo"], stored["hi"]) == (TODAY + timedelta(days=1), TODAY + timedelta(days=366))


async def test_create_with_only_the_required_fields(api):
    deal = await make_deal(api)
    body = await make_calculation(api, deal)
    assert body["program_name"] is None
    assert body["premium_amount"] is None and body["coverage_sum"] is None
    assert body["validity_period"] is None
    assert body["files"] == [] and body["comments"] is None and body["owner_id"] is None


async def test_money_is_normalised_to_two_decimals(api):
    deal = await make_deal(api)
    body = await make_calculation(api, deal, premium_amount=1000, coverage_sum="2500000.5")
    assert (body["premium_amount"], body["coverage_sum"]) == ("1000.00", "2500000.50")


@pytest.mark.parametrize(
    "period",
    [{"start": day(1), "end": None}, {"start": None, "end": day(30)}, {"start": day(5), "end": day(5)}],
)
async def test_partial_and_one_day_validity_periods_round_trip(api, period):
    deal = await make_deal(api)
    body = await make_calculation(api, deal, validity_period=period)
    assert body["validity_period"] == period
    assert (await api.get(url(deal, body))).json()["validity_period"] == period


async def test_period_with_no_bounds_is_stored_as_no_period(api):
    deal = await make_deal(api)
    body = await make_calculation(api, deal, validity_period={"start": None, "end": None})
    assert body["validity_period"] is None


async def test_create_in_unknown_deal_is_404(api):
    response = await api.post(url({"id": MISSING}), json=COMPLETE)
    assert_problem(response, 404, "deal_not_found")


async def test_create_in_deleted_deal_is_404(api):
    deal = await make_deal(api)
    await api.delete(f"/api/v1/deals/{deal['id']}")
    assert_problem(await api.post(url(deal), json=COMPLETE), 404, "deal_not_found")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"insurance_company": None}, "insurance_company"),
        ({"insurance_company": "  "}, "insurance_company"),
        ({"insurance_company": "i" * 256}, "insurance_company"),
        ({"insurance_company": "bad\x00name"}, "insurance_company"),
        ({"insurance_company": 12}, "insurance_company"),
        ({"program_name": "p" * 256}, "program_name"),
        ({"program_name": "p\x00"}, "program_name"),
        ({"premium_amount": "-0.01"}, "premium_amount"),
        ({"premium_amount": "1.234"}, "premium_amount"),
        ({"premium_amount": 2**40}, "premium_amount"),
        ({"premium_amount": "1e400"}, "premium_amount"),
        ({"premium_amount": 10**30}, "premium_amount"),
        ({"premium_amount": "NaN"}, "premium_amount"),
        ({"premium_amount": "lots"}, "premium_amount"),
        ({"premium_amount": True}, "premium_amount"),
        ({"coverage_sum": -1}, "coverage_sum"),
        ({"coverage_sum": "1000000000000.00"}, "coverage_sum"),
        ({"calculation_date": None}, "calculation_date"),
        ({"calculation_date": "2026-02-30"}, "calculation_date"),
        ({"calculation_date": 2**40}, "calculation_date"),
        ({"validity_period": {"start": day(10), "end": day(9)}}, "validity_period"),
        ({"validity_period": {"start": "soon", "end": day(9)}}, "validity_period.start"),
        ({"validity_period": {"start": day(1), "end": "9999-12-31"}}, "validity_period.end"),
        ({"validity_period": {"start": day(1), "until": day(9)}}, "validity_period.until"),
        ({"validity_period": "2026-01-01/2026-12-31"}, "validity_period"),
        ({"files": "a.pdf"}, "files"),
        ({"files": [""]}, "files.0"),
        ({"files": ["f" * 1025]}, "files.0"),
        ({"files": ["ok.pdf", "bad\x00.pdf"]}, "files.1"),
        ({"files": [42]}, "files.0"),
        ({"files": [f"{i}.pdf" for i in range(51)]}, "files"),
        ({"comments": "c" * 5001}, "comments"),
        ({"comments": "c\x00"}, "comments"),
        ({"owner_id": 12}, "owner_id"),
        ({"owner_id": "nobody"}, "owner_id"),
        ({"status": "ready"}, "status"),
        ({"linked_policy_id": MISSING}, "linked_policy_id"),
        ({"deal_id": MISSING}, "deal_id"),
    ],
)
async def test_invalid_create_input_is_422_naming_the_field(api, patch, field):
    deal = await make_deal(api)
    body = {k: v for k, v in {**COMPLETE, **patch}.items() if v is not None}
    response = await api.post(url(deal), json=body)
    assert_problem(response, 422, "validation_error", field)
    assert (await api.get(url(deal))).json()["items"] == []


async def test_retried_create_with_idempotency_key_makes_one_calculation(api):
    deal = await make_deal(api)
    headers = {"Idempotency-Key": "calc-1"}
    first = await api.post(url(deal), json=COMPLETE, headers=headers)
    again = await api.post(url(deal), json=COMPLETE, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len((await api.get(url(deal))).json()["items"]) == 1
