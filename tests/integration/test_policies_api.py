"""Policies API: issue, change, delete and restore; numbers, parties and periods; lists; their events."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth import bearer
from tests.factories import assert_problem, make_client, make_deal, make_policy
from tests.integration.calculations import make_in_status
from tests.outbox import event_data, outbox_rows
from tests.values import MISSING, day


def policy_body(deal, **fields):
    return {
        "policy_number": f"P-{uuid.uuid4().hex[:10]}",
        "client_id": deal["client_id"],
        "deal_id": deal["id"],
        "premium": "1000.00",
        "effective_from": day(0),
        "effective_to": day(365),
        **fields,
    }


async def test_create_policy(api):
    deal = await make_deal(api)
    owner = str(uuid.uuid4())
    response = await api.post(
        "/api/v1/policies", json=policy_body(deal, policy_number="  CASCO-001 ", premium=125000, owner_id=owner)
    )
    assert response.status_code == 201, response.text
    policy = response.json()
    assert policy["policy_number"] == "CASCO-001"
    assert (policy["client_id"], policy["deal_id"], policy["owner_id"]) == (deal["client_id"], deal["id"], owner)
    assert policy["status"] == "draft"
    assert policy["premium"] == "125000.00"
    assert policy["currency"] == "RUB"
    assert policy["calculation_id"] is None
    assert (policy["effective_from"], policy["effective_to"]) == (day(0), day(365))
    assert response.headers["location"] == f"/api/v1/policies/{policy['id']}"
    assert response.headers["etag"] == '"1"'
    assert (await api.get(f"/api/v1/policies/{policy['id']}")).json() == policy


async def test_currency_is_normalised_and_a_one_day_policy_is_allowed(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal, currency=" usd ", effective_from=day(5), effective_to=day(5), premium=0)
    assert (policy["currency"], policy["premium"]) == ("USD", "0.00")


async def test_factory_makes_a_policy_with_its_own_deal(api):
    policy = await make_policy(api)
    deal = (await api.get(f"/api/v1/deals/{policy['deal_id']}")).json()
    assert deal["client_id"] == policy["client_id"]


async def test_policy_for_unknown_or_deleted_deal_is_404(api):
    deal = await make_deal(api)
    body = policy_body(deal, deal_id=MISSING)
    assert_problem(await api.post("/api/v1/policies", json=body), 404, "deal_not_found", "deal_id")
    await api.delete(f"/api/v1/deals/{deal['id']}")
    assert_problem(await api.post("/api/v1/policies", json=policy_body(deal)), 404, "deal_not_found")


async def test_policy_for_unknown_client_is_404(api):
    deal = await make_deal(api)
    response = await api.post("/api/v1/policies", json=policy_body(deal, client_id=MISSING))
    assert_problem(response, 404, "client_not_found", "client_id")


async def test_policy_for_deleted_client_is_404(api):
    deal = await make_deal(api)
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    assert (await api.delete(f"/api/v1/clients/{deal['client_id']}")).status_code == 204
    assert_problem(await api.post("/api/v1/policies", json=policy_body(deal)), 404, "client_not_found")


async def test_policy_client_must_be_the_deals_client(api):
    deal = await make_deal(api)
    other = await make_client(api, name="Other")
    response = await api.post("/api/v1/policies", json=policy_body(deal, client_id=other["id"]))
    assert_problem(response, 422, "policy_client_mismatch", "client_id")


async def test_policy_cannot_end_before_it_starts(api):
    deal = await make_deal(api)
    response = await api.post("/api/v1/policies", json=policy_body(deal, effective_from=day(10), effective_to=day(9)))
    assert_problem(response, 422, "rule_violation", "effective_to")


async def test_duplicate_policy_number_is_409(api):
    policy = await make_policy(api, policy_number="DUP-1")
    deal = {"id": policy["deal_id"], "client_id": policy["client_id"]}
    again = await api.post("/api/v1/policies", json=policy_body(deal, policy_number=" DUP-1 "))
    assert_problem(again, 409, "policy_number_conflict", "policy_number")


async def test_number_of_a_deleted_policy_stays_taken(api):
    policy = await make_policy(api, policy_number="GONE-1")
    await api.delete(f"/api/v1/policies/{policy['id']}")
    deal = {"id": policy["deal_id"], "client_id": policy["client_id"]}
    response = await api.post("/api/v1/policies", json=policy_body(deal, policy_number="GONE-1"))
    assert_problem(response, 409, "policy_number_conflict")


async def test_concurrent_creates_with_one_number_give_one_policy_and_409s(api, db):
    deal = await make_deal(api)
    body = policy_body(deal, policy_number="RACE-1")
    responses = await asyncio.gather(*(api.post("/api/v1/policies", json=body) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "policy_number_conflict")
    assert await db.fetchval("SELECT count(*) FROM crm.policies") == 1


async def test_concurrent_renames_to_one_number_give_one_winner_and_409s(api):
    deal = await make_deal(api)
    policies = [await make_policy(api, deal) for _ in range(4)]
    responses = await asyncio.gather(
        *(api.patch(f"/api/v1/policies/{p['id']}", json={"policy_number": "RACE-2"}) for p in policies)
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"policy_number_conflict"}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"policy_number": ""}, "policy_number"),
        ({"policy_number": "   "}, "policy_number"),
        ({"policy_number": "P" * 65}, "policy_number"),
        ({"policy_number": "P\x001"}, "policy_number"),
        ({"policy_number": 12}, "policy_number"),
        ({"policy_number": None}, "policy_number"),
        ({"client_id": "nope"}, "client_id"),
        ({"deal_id": 12}, "deal_id"),
        ({"deal_id": None}, "deal_id"),
        ({"owner_id": "x"}, "owner_id"),
        ({"status": "open"}, "status"),
        ({"premium": "-0.01"}, "premium"),
        ({"premium": -5}, "premium"),
        ({"premium": "1.001"}, "premium"),
        ({"premium": "abc"}, "premium"),
        ({"premium": 10**12}, "premium"),
        ({"premium": 2**64}, "premium"),
        ({"premium": "NaN"}, "premium"),
        ({"premium": True}, "premium"),
        ({"currency": "RU"}, "currency"),
        ({"currency": "R$B"}, "currency"),
        ({"currency": 643}, "currency"),
        ({"effective_from": "2026-02-30"}, "effective_from"),
        ({"effective_to": 20270101}, "effective_to"),
        ({"calculation_id": str(uuid.uuid4())}, "calculation_id"),
        ({"version": 3}, "version"),
    ],
)
async def test_invalid_policy_input_is_422_naming_the_field(api, patch, field):
    deal = await make_deal(api)
    body = {k: v for k, v in policy_body(deal, **patch).items() if v is not None}
    response = await api.post("/api/v1/policies", json=body)
    assert_problem(response, 422, "validation_error", field)
    assert (await api.get("/api/v1/policies")).json()["items"] == []


async def test_get_unknown_policy_is_404(api):
    assert_problem(await api.get(f"/api/v1/policies/{MISSING}"), 404, "policy_not_found")
    assert_problem(await api.get("/api/v1/policies/not-a-uuid"), 422, "validation_error", "policy_id")


async def test_get_with_current_etag_is_304(api):
    policy = await make_policy(api)
    response = await api.get(f"/api/v1/policies/{policy['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 304
    assert response.headers["etag"] == '"1"'


async def test_patch_policy_fields(api):
    policy = await make_policy(api, owner_id=str(uuid.uuid4()))
    response = await api.patch(
        f"/api/v1/policies/{policy['id']}",
        json={"status": "active", "premium": "99.5", "currency": "eur", "owner_id": None, "effective_to": day(400)},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["premium"], body["currency"], body["owner_id"]) == ("active", "99.50", "EUR", None)
    assert (body["effective_to"], body["version"]) == (day(400), 2)
    assert response.headers["etag"] == '"2"'


async def test_patch_with_stale_if_match_is_412(api):
    policy = await make_policy(api)
    await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "active"})
    response = await api.patch(
        f"/api/v1/policies/{policy['id']}", json={"status": "expired"}, headers={"If-Match": '"1"'}
    )
    assert_problem(response, 412, "precondition_failed")
    assert response.headers["etag"] == '"2"'


@pytest.mark.parametrize(
    ("patch", "field"),
    [({"effective_to": day(-1)}, "effective_to"), ({"effective_from": day(366)}, "effective_to")],
)
async def test_patch_period_is_checked_against_the_stored_bound(api, patch, field):
    policy = await make_policy(api, effective_from=day(0), effective_to=day(365))
    response = await api.patch(f"/api/v1/policies/{policy['id']}", json=patch)
    assert_problem(response, 422, "rule_violation", field)


# premium and the cover dates may be cleared on a draft (tests/integration/test_policies_draft.py).
@pytest.mark.parametrize("field", ["policy_number", "client_id", "deal_id", "status", "currency"])
async def test_patch_cannot_clear_required_fields(api, field):
    policy = await make_policy(api)
    response = await api.patch(f"/api/v1/policies/{policy['id']}", json={field: None})
    assert_problem(response, 422, "rule_violation", field)


@pytest.mark.parametrize(
    ("patch", "field"),
    [({"premium": "-1"}, "premium"), ({"policy_number": "x" * 65}, "policy_number"), ({"id": MISSING}, "id")],
)
async def test_invalid_patch_is_422(api, patch, field):
    policy = await make_policy(api)
    assert_problem(await api.patch(f"/api/v1/policies/{policy['id']}", json=patch), 422, "validation_error", field)


async def test_patch_to_a_taken_number_is_409(api):
    await make_policy(api, policy_number="TAKEN-1")
    second = await make_policy(api)
    response = await api.patch(f"/api/v1/policies/{second['id']}", json={"policy_number": "TAKEN-1"})
    assert_problem(response, 409, "policy_number_conflict", "policy_number")


async def test_patch_moves_the_policy_between_deals_of_its_client_only(api):
    policy = await make_policy(api)
    same_client_deal = await make_deal(api, policy["client_id"], title="Second deal")
    moved = await api.patch(f"/api/v1/policies/{policy['id']}", json={"deal_id": same_client_deal["id"]})
    assert moved.json()["deal_id"] == same_client_deal["id"]

    other_deal = await make_deal(api)
    response = await api.patch(f"/api/v1/policies/{policy['id']}", json={"deal_id": other_deal["id"]})
    assert_problem(response, 422, "policy_client_mismatch", "client_id")
    both = {"deal_id": other_deal["id"], "client_id": other_deal["client_id"]}
    assert (await api.patch(f"/api/v1/policies/{policy['id']}", json=both)).status_code == 200
    response = await api.patch(f"/api/v1/policies/{policy['id']}", json={"deal_id": MISSING})
    assert_problem(response, 404, "deal_not_found", "deal_id")


async def test_policy_shows_its_calculation_and_cannot_leave_its_deal(api):
    policy = await make_policy(api)
    deal = {"id": policy["deal_id"]}
    calculation_id = (await make_in_status(api, deal, "confirmed", policy_id=policy["id"]))["id"]
    assert (await api.get(f"/api/v1/policies/{policy['id']}")).json()["calculation_id"] == calculation_id
    other_deal = await make_deal(api, policy["client_id"])
    response = await api.patch(f"/api/v1/policies/{policy['id']}", json={"deal_id": other_deal["id"]})
    assert_problem(response, 409, "policy_has_calculation", "deal_id")
    updated = await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "active"})
    assert updated.json()["calculation_id"] == calculation_id


async def test_patch_unknown_policy_is_404(api):
    assert_problem(await api.patch(f"/api/v1/policies/{MISSING}", json={"status": "active"}), 404, "policy_not_found")


async def test_delete_and_restore_policy(api):
    policy = await make_policy(api)
    stale = await api.delete(f"/api/v1/policies/{policy['id']}", headers={"If-Match": '"7"'})
    assert_problem(stale, 412, "precondition_failed")
    assert (await api.delete(f"/api/v1/policies/{policy['id']}", headers={"If-Match": '"1"'})).status_code == 204
    assert_problem(await api.get(f"/api/v1/policies/{policy['id']}"), 404, "policy_not_found")
    assert (await api.get("/api/v1/policies")).json()["items"] == []
    assert_problem(await api.delete(f"/api/v1/policies/{policy['id']}"), 404, "policy_not_found")
    assert_problem(
        await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "active"}), 404, "policy_not_found"
    )
    restored = await api.post(f"/api/v1/policies/{policy['id']}/restore")
    assert restored.status_code == 200
    assert (restored.json()["is_deleted"], restored.json()["deleted_at"]) == (False, None)
    assert (await api.get(f"/api/v1/policies/{policy['id']}")).status_code == 200
    again = await api.post(f"/api/v1/policies/{policy['id']}/restore")
    assert again.json()["version"] == restored.json()["version"]


async def test_restore_unknown_policy_is_404(api):
    assert_problem(await api.post(f"/api/v1/policies/{MISSING}/restore"), 404, "policy_not_found")


async def test_restore_of_policy_whose_deal_is_deleted_is_409(api):
    policy = await make_policy(api)
    await api.delete(f"/api/v1/policies/{policy['id']}")
    assert (await api.delete(f"/api/v1/deals/{policy['deal_id']}")).status_code == 204
    assert_problem(await api.post(f"/api/v1/policies/{policy['id']}/restore"), 409, "deal_deleted")


async def test_restore_of_policy_whose_client_is_deleted_is_409(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    await api.delete(f"/api/v1/policies/{policy['id']}")
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    assert (await api.delete(f"/api/v1/clients/{deal['client_id']}")).status_code == 204
    assert_problem(await api.post(f"/api/v1/policies/{policy['id']}/restore"), 409, "client_deleted")


async def test_list_is_newest_first_and_pages_cover_every_policy_once(api):
    deal = await make_deal(api)
    made = [(await make_policy(api, deal))["id"] for _ in range(7)]
    listed = [p["id"] for p in (await api.get("/api/v1/policies")).json()["items"]]
    assert listed == made[::-1]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/policies", params=params)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == listed


async def test_list_filters(api):
    deal = await make_deal(api)
    other_deal = await make_deal(api)
    a = await make_policy(api, deal, policy_number="CASCO-100%", effective_to=day(30))
    b = await make_policy(api, deal, policy_number="OSAGO_7", status="active", effective_to=day(60))
    c = await make_policy(
        api, other_deal, policy_number="casco-200", status="expired", effective_from=day(-365), effective_to=day(-1)
    )

    async def ids(params):
        response = await api.get("/api/v1/policies", params=params)
        assert response.status_code == 200, response.text
        return {p["id"] for p in response.json()["items"]}

    assert await ids({"deal_id": deal["id"]}) == {a["id"], b["id"]}
    assert await ids({"client_id": other_deal["client_id"]}) == {c["id"]}
    assert await ids({"status": "active"}) == {b["id"]}
    assert await ids({"status": ["active", "expired"]}) == {b["id"], c["id"]}
    # expiring_before is strict: a policy ending on that day is not included.
    assert await ids({"expiring_before": day(30)}) == {c["id"]}
    assert await ids({"expiring_before": day(31)}) == {a["id"], c["id"]}
    assert await ids({"search": "casco"}) == {a["id"], c["id"]}
    assert await ids({"search": "100%"}) == {a["id"]}
    assert await ids({"search": "%"}) == {a["id"]}
    assert await ids({"search": "O_7"}) == {b["id"]}
    assert await ids({"search": "_"}) == {b["id"]}
    assert await ids({"deal_id": deal["id"], "status": "draft"}) == {a["id"]}
    page = (await api.get("/api/v1/policies", params={"with_total": "true", "limit": 1})).json()
    assert (page["total"], len(page["items"])) == (3, 1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "open"}, "status"),
        ({"expiring_before": "2026-13-01"}, "expiring_before"),
        ({"deal_id": "x"}, "deal_id"),
        ({"client_id": "1"}, "client_id"),
        ({"search": ""}, "search"),
        ({"search": "a\x00b"}, "search"),
        ({"search": "s" * 201}, "search"),
        ({"limit": 4294967296}, "limit"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_invalid_policy_list_parameters_are_422(api, params, field):
    assert_problem(await api.get("/api/v1/policies", params=params), 422, "validation_error", field)


async def test_foreign_cursor_is_400(api):
    clients_cursor = "WyJjbGllbnRzIixbXV0"  # ["clients",[]]
    assert_problem(await api.get("/api/v1/policies", params={"cursor": clients_cursor}), 400, "invalid_cursor")
    assert_problem(await api.get("/api/v1/policies", params={"cursor": "garbage!"}), 400, "invalid_cursor")


async def test_create_with_idempotency_key_is_replayed(api, db):
    deal = await make_deal(api)
    body = policy_body(deal)
    headers = {"Idempotency-Key": "policy-create-1"}
    first = await api.post("/api/v1/policies", json=body, headers=headers)
    second = await api.post("/api/v1/policies", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM crm.policies") == 1


async def test_actor_comes_from_the_caller(api):
    actor = str(uuid.uuid4())
    deal = await make_deal(api)
    response = await api.post("/api/v1/policies", json=policy_body(deal), headers=bearer(actor, "admin"))
    assert (response.json()["created_by_id"], response.json()["updated_by_id"]) == (actor, actor)


async def test_policy_lifecycle_events(api, db):
    policy = await make_policy(api)
    updated = (await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "active"})).json()
    await api.delete(f"/api/v1/policies/{policy['id']}")
    restored = (await api.post(f"/api/v1/policies/{policy['id']}/restore")).json()
    rows = [r for r in await outbox_rows(db) if r["aggregate_type"] == "policy"]
    assert [r["routing_key"] for r in rows] == ["policy.created", "policy.updated", "policy.deleted", "policy.restored"]
    assert {str(r["aggregate_id"]) for r in rows} == {policy["id"]}
    assert event_data(rows[0]) == policy
    assert event_data(rows[1]) == updated
    assert event_data(rows[2])["is_deleted"] is True
    assert event_data(rows[3]) == restored


async def test_no_op_and_refused_policy_changes_record_nothing(api, db):
    policy = await make_policy(api)
    before = await outbox_rows(db)
    await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "draft", "premium": 12500})
    await api.post(f"/api/v1/policies/{policy['id']}/restore")
    await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "active"}, headers={"If-Match": '"5"'})
    await api.patch(f"/api/v1/policies/{policy['id']}", json={"effective_to": day(-400)})
    deal = {"id": policy["deal_id"], "client_id": policy["client_id"]}
    await api.post("/api/v1/policies", json=policy_body(deal, policy_number=policy["policy_number"]))
    await api.post("/api/v1/policies", json=policy_body(deal, client_id=MISSING))
    assert await outbox_rows(db) == before
