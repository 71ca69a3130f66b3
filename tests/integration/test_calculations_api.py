"""Calculations (quotes) API: lifecycle under a deal, the workflow and its rules, policy links, lists, events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.factories import assert_problem, make_deal

MISSING = "00000000-0000-4000-8000-000000000000"
TODAY = date.today()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def url(deal: dict, calculation: dict | str | None = None, suffix: str = "") -> str:
    base = f"/api/v1/deals/{deal['id']}/calculations"
    if calculation is None:
        return base
    calculation_id = calculation if isinstance(calculation, str) else calculation["id"]
    return f"{base}/{calculation_id}{suffix}"


COMPLETE = {
    "insurance_company": "Ingosstrakh",
    "program_name": "CASCO Premium",
    "premium_amount": "125000.00",
    "coverage_sum": "4500000.00",
    "calculation_date": day(0),
    "validity_period": {"start": day(1), "end": day(365)},
    "files": ["quotes/ingosstrakh.pdf"],
    "comments": "Franchise 30 000",
}


async def make_calculation(api, deal: dict, **fields) -> dict:
    body = {"insurance_company": "Ingosstrakh", "calculation_date": day(0), **fields}
    response = await api.post(url(deal), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def move(api, deal: dict, calculation: dict, status: str, **extra):
    return await api.post(url(deal, calculation, "/status"), json={"status": status, **extra})


async def make_in_status(api, deal: dict, status: str, policy_id: str | None = None, **fields) -> dict:
    calculation = await make_calculation(api, deal, **{**COMPLETE, **fields})
    path = {"draft": [], "ready": ["ready"], "confirmed": ["ready", "confirmed"], "archived": ["ready", "archived"]}
    for step in path[status]:
        extra = {"policy_id": policy_id} if step == "confirmed" and policy_id else {}
        response = await move(api, deal, calculation, step, **extra)
        assert response.status_code == 200, response.text
        calculation = response.json()
    return calculation


async def make_policy(db, deal: dict, *, deleted: bool = False) -> str:
    """A policy row of ``deal``, written straight to the table (the policies API is another module)."""
    policy_id = uuid.uuid4()
    await db.execute(
        """
        INSERT INTO crm.policies
            (id, policy_number, client_id, deal_id, status, premium, currency, effective_from, effective_to,
             is_deleted, deleted_at)
        VALUES ($1, $2, $3, $4, 'active', 100.00, 'RUB', $5, $6, $7, CASE WHEN $7 THEN now() END)
        """,
        policy_id,
        f"POL-{policy_id.hex[:12].upper()}",
        uuid.UUID(deal["client_id"]),
        uuid.UUID(deal["id"]),
        TODAY,
        TODAY + timedelta(days=364),
        deleted,
    )
    return str(policy_id)


async def outbox(db) -> list[dict]:
    return [dict(r) for r in await db.fetch("SELECT * FROM crm.outbox ORDER BY id")]


def event_data(row: dict) -> dict:
    return JSONFormat().read(CloudEvent, row["payload"]).get_data()


async def calculation_events(db) -> list[dict]:
    return [r for r in await outbox(db) if r["routing_key"].startswith("deal.calculation.")]


# --- create -----------------------------------------------------------------------------------------


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


async def test_malformed_ids_in_the_path_are_422(api):
    assert_problem(await api.get("/api/v1/deals/nope/calculations"), 422, "validation_error", "deal_id")
    deal = await make_deal(api)
    assert_problem(await api.get(url(deal, "nope")), 422, "validation_error", "calculation_id")


async def test_retried_create_with_idempotency_key_makes_one_calculation(api):
    deal = await make_deal(api)
    headers = {"Idempotency-Key": "calc-1"}
    first = await api.post(url(deal), json=COMPLETE, headers=headers)
    again = await api.post(url(deal), json=COMPLETE, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len((await api.get(url(deal))).json()["items"]) == 1


# --- read -------------------------------------------------------------------------------------------


async def test_get_calculation_with_etag_and_not_modified(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    response = await api.get(url(deal, made))
    assert response.status_code == 200
    assert response.json() == made
    assert response.headers["etag"] == '"1"'
    assert (await api.get(url(deal, made), headers={"If-None-Match": '"1"'})).status_code == 304


async def test_unknown_calculation_is_404(api):
    deal = await make_deal(api)
    assert_problem(await api.get(url(deal, MISSING)), 404, "calculation_not_found")


async def test_calculation_of_another_deal_is_404_on_every_route(api):
    deal, other = await make_deal(api), await make_deal(api)
    made = await make_calculation(api, deal)
    assert_problem(await api.get(url(other, made)), 404, "calculation_not_found")
    assert_problem(await api.patch(url(other, made), json={"comments": "x"}), 404, "calculation_not_found")
    assert_problem(await move(api, other, made, "ready"), 404, "calculation_not_found")
    assert_problem(await api.delete(url(other, made)), 404, "calculation_not_found")


async def test_every_route_of_a_deleted_deal_is_404_deal_not_found(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **COMPLETE)
    await api.delete(f"/api/v1/deals/{deal['id']}")
    assert_problem(await api.get(url(deal)), 404, "deal_not_found")
    assert_problem(await api.get(url(deal, made)), 404, "deal_not_found")
    assert_problem(await api.patch(url(deal, made), json={"comments": "x"}), 404, "deal_not_found")
    assert_problem(await move(api, deal, made, "ready"), 404, "deal_not_found")
    assert_problem(await api.delete(url(deal, made)), 404, "deal_not_found")


async def test_list_of_unknown_deal_is_404(api):
    assert_problem(await api.get(url({"id": MISSING})), 404, "deal_not_found")


# --- update -----------------------------------------------------------------------------------------


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
    before = len(await outbox(db))
    same = {k: COMPLETE[k] for k in ("premium_amount", "validity_period", "files", "insurance_company")}
    response = await api.patch(url(deal, made), json={**same, "premium_amount": 125000})
    assert response.json()["version"] == 1
    assert len(await outbox(db)) == before


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


# --- workflow ---------------------------------------------------------------------------------------


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
    before = len(await outbox(db))
    response = await move(api, deal, made, status)
    assert response.status_code == 200
    assert response.json() == made
    assert len(await outbox(db)) == before


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


# --- confirm and policy links -----------------------------------------------------------------------


async def test_confirm_without_a_policy(api):
    deal = await make_deal(api)
    made = await make_in_status(api, deal, "confirmed")
    assert (made["status"], made["linked_policy_id"]) == ("confirmed", None)


async def test_confirm_links_a_policy_of_the_same_deal(api, db):
    deal = await make_deal(api)
    policy = await make_policy(db, deal)
    made = await make_in_status(api, deal, "confirmed", policy_id=policy)
    assert made["linked_policy_id"] == policy
    archived = (await move(api, deal, made, "archived")).json()
    assert archived["linked_policy_id"] == policy


async def test_confirm_with_policy_of_another_deal_is_404(api, db):
    deal, other = await make_deal(api), await make_deal(api)
    foreign = await make_policy(db, other)
    made = await make_in_status(api, deal, "ready")
    body = assert_problem(await move(api, deal, made, "confirmed", policy_id=foreign), 404, "policy_not_found")
    assert body["errors"][0]["field"] == "policy_id"
    assert (await api.get(url(deal, made))).json()["status"] == "ready"


async def test_confirm_with_unknown_or_deleted_policy_is_404(api, db):
    deal = await make_deal(api)
    deleted = await make_policy(db, deal, deleted=True)
    made = await make_in_status(api, deal, "ready")
    assert_problem(await move(api, deal, made, "confirmed", policy_id=MISSING), 404, "policy_not_found")
    assert_problem(await move(api, deal, made, "confirmed", policy_id=deleted), 404, "policy_not_found")


async def test_relinking_a_policy_unlinks_the_previous_calculation(api, db):
    deal = await make_deal(api)
    policy = await make_policy(db, deal)
    first = await make_in_status(api, deal, "confirmed", policy_id=policy)
    second = await make_in_status(api, deal, "ready", insurance_company="Alfa")
    before = len(await outbox(db))

    response = await move(api, deal, second, "confirmed", policy_id=policy)
    assert response.status_code == 200, response.text
    assert response.json()["linked_policy_id"] == policy
    previous = (await api.get(url(deal, first))).json()
    assert (previous["status"], previous["linked_policy_id"], previous["version"]) == ("confirmed", None, 4)

    rows = (await outbox(db))[before:]
    assert [r["routing_key"] for r in rows] == ["deal.calculation.updated", "deal.calculation.status.confirmed"]
    assert event_data(rows[0]) == previous  # unlinked: no policy_id
    assert event_data(rows[1]) == {**response.json(), "policy_id": policy}


async def test_an_archived_holder_also_gives_the_policy_up(api, db):
    deal = await make_deal(api)
    policy = await make_policy(db, deal)
    first = await make_in_status(api, deal, "confirmed", policy_id=policy)
    await move(api, deal, first, "archived")
    second = await make_in_status(api, deal, "ready")
    assert (await move(api, deal, second, "confirmed", policy_id=policy)).status_code == 200
    assert (await api.get(url(deal, first))).json()["linked_policy_id"] is None


async def test_a_confirmed_calculation_cannot_change_its_policy(api, db):
    deal = await make_deal(api)
    policy, other_policy = await make_policy(db, deal), await make_policy(db, deal)
    made = await make_in_status(api, deal, "confirmed", policy_id=policy)
    response = await move(api, deal, made, "confirmed", policy_id=other_policy)
    assert_problem(response, 400, "calculation_update_forbidden", "policy_id")
    same = await move(api, deal, made, "confirmed", policy_id=policy)
    assert same.status_code == 200 and same.json()["version"] == made["version"]


async def test_concurrent_confirms_of_one_policy_leave_exactly_one_link(api, db):
    deal = await make_deal(api)
    policy = await make_policy(db, deal)
    candidates = [await make_in_status(api, deal, "ready", insurance_company=f"Insurer {i}") for i in range(6)]
    responses = await asyncio.gather(*(move(api, deal, c, "confirmed", policy_id=policy) for c in candidates))
    for response in responses:
        if response.status_code != 200:
            assert_problem(response, 409, "policy_already_linked", "policy_id")
    assert any(r.status_code == 200 for r in responses)
    holders = await db.fetch("SELECT id FROM crm.calculations WHERE linked_policy_id = $1", uuid.UUID(policy))
    assert len(holders) == 1


# --- delete -----------------------------------------------------------------------------------------


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


# --- lists ------------------------------------------------------------------------------------------


async def test_list_is_oldest_first_and_only_this_deal(api):
    deal, other = await make_deal(api), await make_deal(api)
    made = [await make_calculation(api, deal, insurance_company=f"Insurer {i}") for i in range(3)]
    await make_calculation(api, other)
    await api.patch(url(deal, made[0]), json={"comments": "touched"})  # updates do not reorder
    items = (await api.get(url(deal))).json()["items"]
    assert [c["id"] for c in items] == [c["id"] for c in made]


async def test_list_pages_cover_every_calculation_once(api):
    deal = await make_deal(api)
    made = [(await make_calculation(api, deal))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, "with_total": "true", **({"cursor": cursor} if cursor else {})}
        page = (await api.get(url(deal), params=params)).json()
        assert page["total"] == 7
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made


async def test_list_filters(api):
    deal = await make_deal(api)
    ingo = await make_in_status(api, deal, "ready", insurance_company="Ingosstrakh", calculation_date=day(-10))
    alfa = await make_calculation(api, deal, insurance_company="AlfaStrakhovanie", calculation_date=day(-5))
    reso = await make_in_status(api, deal, "archived", insurance_company="RESO 100%", calculation_date=day(0))

    async def ids(params):
        response = await api.get(url(deal), params=params)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["items"]}

    assert await ids({"status": "ready"}) == {ingo["id"]}
    assert await ids({"status": ["draft", "archived"]}) == {alfa["id"], reso["id"]}
    assert await ids({"insurance_company": "STRAKH"}) == {ingo["id"], alfa["id"]}
    assert await ids({"insurance_company": "100%"}) == {reso["id"]}
    assert await ids({"insurance_company": "%"}) == {reso["id"]}  # wildcards are literal
    assert await ids({"insurance_company": "_"}) == set()
    assert await ids({"calculation_date_from": day(-5)}) == {alfa["id"], reso["id"]}
    assert await ids({"calculation_date_to": day(-5)}) == {ingo["id"], alfa["id"]}
    assert await ids({"calculation_date_from": day(-5), "calculation_date_to": day(-5)}) == {alfa["id"]}
    assert await ids({"calculation_date_from": day(1)}) == set()
    total = (await api.get(url(deal), params={"status": "draft", "with_total": "true"})).json()["total"]
    assert total == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "open"}, "status"),
        ({"calculation_date_from": "yesterday"}, "calculation_date_from"),
        ({"calculation_date_to": "2026-13-01"}, "calculation_date_to"),
        ({"insurance_company": ""}, "insurance_company"),
        ({"insurance_company": "x" * 201}, "insurance_company"),
        ({"insurance_company": "a\x00b"}, "insurance_company"),
        ({"limit": 4294967296}, "limit"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_invalid_list_parameters_are_422(api, params, field):
    deal = await make_deal(api)
    assert_problem(await api.get(url(deal), params=params), 422, "validation_error", field)


async def test_foreign_cursor_is_400(api):
    deal = await make_deal(api)
    await make_deal(api)
    for _ in range(2):
        await make_calculation(api, deal)
    deals_cursor = (await api.get("/api/v1/deals", params={"limit": 1})).json()["next_cursor"]
    assert_problem(await api.get(url(deal), params={"cursor": deals_cursor}), 400, "invalid_cursor")
    assert_problem(await api.get(url(deal), params={"cursor": "garbage!"}), 400, "invalid_cursor")


# --- events -----------------------------------------------------------------------------------------


async def test_each_change_records_its_event_on_the_deal(api, db):
    deal = await make_deal(api)
    policy = await make_policy(db, deal)
    made = await make_calculation(api, deal, **COMPLETE)
    updated = (await api.patch(url(deal, made), json={"comments": "new"})).json()
    ready = (await move(api, deal, made, "ready")).json()
    confirmed = (await move(api, deal, made, "confirmed", policy_id=policy)).json()
    archived = (await move(api, deal, made, "archived")).json()
    dropped = await make_calculation(api, deal)
    await api.delete(url(deal, dropped))

    rows = await calculation_events(db)
    assert [r["routing_key"] for r in rows] == [
        "deal.calculation.created",
        "deal.calculation.updated",
        "deal.calculation.status.ready",
        "deal.calculation.status.confirmed",
        "deal.calculation.status.archived",
        "deal.calculation.created",
        "deal.calculation.deleted",
    ]
    assert {r["aggregate_type"] for r in rows} == {"deal"}
    assert {str(r["aggregate_id"]) for r in rows} == {deal["id"]}
    assert [event_data(r) for r in rows[:5]] == [
        made,
        updated,
        ready,
        {**confirmed, "policy_id": policy},
        {**archived, "policy_id": policy},
    ]
    deleted = event_data(rows[6])
    assert (deleted["id"], deleted["is_deleted"]) == (dropped["id"], True)
    assert JSONFormat().read(CloudEvent, rows[0]["payload"]).get_type() == "crm.deal.calculation.created"


async def test_refused_changes_record_nothing(api, db):
    deal = await make_deal(api)
    draft = await make_calculation(api, deal)
    confirmed = await make_in_status(api, deal, "confirmed")
    before = await outbox(db)
    await move(api, deal, draft, "ready")  # incomplete
    await move(api, deal, draft, "confirmed")  # not allowed
    await move(api, deal, confirmed, "ready")
    await api.patch(url(deal, confirmed), json={"comments": "x"})
    await api.delete(url(deal, confirmed))
    await api.patch(url(deal, draft), json={"comments": "x"}, headers={"If-Match": '"9"'})
    await move(api, {"id": MISSING}, draft, "ready")
    assert await outbox(db) == before
