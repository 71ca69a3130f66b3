"""Deals API: lifecycle, stages, lists with their filters and order, stage metrics, and the errors."""

from __future__ import annotations

import uuid

import pytest

from tests.auth import bearer
from tests.factories import assert_problem, make_client, make_deal, make_payment, make_policy, payments_url
from tests.values import MISSING, day


async def test_create_deal(api):
    client = await make_client(api)
    owner = str(uuid.uuid4())
    response = await api.post(
        "/api/v1/deals",
        json={
            "client_id": client["id"],
            "title": "Property insurance",
            "description": "Warehouse in Tver",
            "next_review_at": day(3),
            "owner_id": owner,
        },
    )
    assert response.status_code == 201
    deal = response.json()
    assert deal["status"] == "draft"
    assert deal["stage"] == "qualification"
    assert deal["owner_id"] == owner
    assert deal["next_review_at"] == day(3)
    assert deal["closed_at"] is None
    assert response.headers["location"] == f"/api/v1/deals/{deal['id']}"
    assert response.headers["etag"] == '"1"'


async def test_deal_for_unknown_client_is_404_client_not_found(api):
    response = await api.post("/api/v1/deals", json={"client_id": MISSING, "title": "T", "next_review_at": day(1)})
    assert_problem(response, 404, "client_not_found")


async def test_deal_for_deleted_client_is_404_client_not_found(api):
    client = await make_client(api)
    await api.delete(f"/api/v1/clients/{client['id']}")
    response = await api.post("/api/v1/deals", json={"client_id": client["id"], "title": "T", "next_review_at": day(1)})
    assert_problem(response, 404, "client_not_found")


async def test_a_new_deal_cannot_start_closed(api):
    client = await make_client(api)
    response = await api.post(
        "/api/v1/deals",
        json={"client_id": client["id"], "title": "T", "next_review_at": day(1), "status": "won"},
    )
    assert_problem(response, 422, "validation_error", "status")  # the document lists open statuses only


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"client_id": None}, "client_id"),
        ({"client_id": "nope"}, "client_id"),
        ({"title": ""}, "title"),
        ({"title": "t" * 256}, "title"),
        ({"title": "bad\x00title"}, "title"),
        ({"description": "d" * 10_001}, "description"),
        ({"next_review_at": None}, "next_review_at"),
        ({"next_review_at": "2026-02-30"}, "next_review_at"),
        ({"next_review_at": 20261201}, "next_review_at"),
        ({"status": "archived"}, "status"),
        ({"stage": "negotiation"}, "stage"),
        ({"owner_id": 12}, "owner_id"),
    ],
)
async def test_invalid_deal_input_is_422_naming_the_field(api, patch, field):
    client = await make_client(api)
    body = {"client_id": client["id"], "title": "T", "next_review_at": day(1), **patch}
    body = {k: v for k, v in body.items() if v is not None}
    response = await api.post("/api/v1/deals", json=body)
    assert_problem(response, 422, "validation_error", field)
    assert (await api.get("/api/v1/deals")).json()["items"] == []


async def test_get_unknown_deal_is_404(api):
    assert_problem(await api.get(f"/api/v1/deals/{MISSING}"), 404, "deal_not_found")


async def test_patch_deal_fields(api):
    deal = await make_deal(api, description="old")
    response = await api.patch(
        f"/api/v1/deals/{deal['id']}", json={"title": "New title", "description": None, "next_review_at": day(30)}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["description"], body["next_review_at"]) == ("New title", None, day(30))
    assert body["version"] == 2


async def test_patch_to_unknown_client_is_404(api):
    deal = await make_deal(api)
    response = await api.patch(f"/api/v1/deals/{deal['id']}", json={"client_id": MISSING})
    assert_problem(response, 404, "client_not_found")


async def test_patch_can_move_the_deal_to_another_live_client(api):
    deal = await make_deal(api)
    other = await make_client(api, name="Other")
    response = await api.patch(f"/api/v1/deals/{deal['id']}", json={"client_id": other["id"]})
    assert response.json()["client_id"] == other["id"]


async def test_patch_status_follows_the_lifecycle(api):
    deal = await make_deal(api)
    response = await api.patch(f"/api/v1/deals/{deal['id']}", json={"status": "in_progress"})
    assert response.json()["stage"] == "negotiation"
    response = await api.patch(f"/api/v1/deals/{deal['id']}", json={"status": "draft"})
    assert_problem(response, 409, "invalid_stage_transition", "status")


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("qualification", "draft"),  # a draft deal is already in the qualification stage
        ("negotiation", "in_progress"),
        ("proposal", "proposal"),
        ("closedWon", "won"),
        ("closedLost", "lost"),
    ],
)
async def test_stage_maps_to_status(api, stage, status):
    deal = await make_deal(api)
    response = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": stage})
    assert response.status_code == 200
    assert response.json()["stage"] == stage
    assert response.json()["status"] == status


async def test_closing_sets_closed_at_and_reopening_clears_it(api):
    deal = await make_deal(api)
    won = (await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})).json()
    assert won["closed_at"] is not None
    reopened = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "negotiation"})
    assert reopened.status_code == 200
    assert reopened.json()["closed_at"] is None


async def test_won_deal_is_final_for_non_admins(api):
    seller_id = uuid.uuid4()
    deal = await make_deal(api, owner_id=str(seller_id))
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    seller = bearer(seller_id, "ROLE_SELLER")
    response = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=seller)
    assert_problem(response, 409, "invalid_stage_transition")


async def test_won_deal_cannot_become_lost_without_reopening(api):
    deal = await make_deal(api)
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    response = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedLost"})
    assert_problem(response, 409, "invalid_stage_transition")


@pytest.mark.parametrize("body", [{"stage": "won"}, {"stage": None}, {}, {"stage": "proposal", "x": 1}])
async def test_invalid_stage_body_is_422(api, body):
    deal = await make_deal(api)
    assert_problem(await api.patch(f"/api/v1/deals/{deal['id']}/stage", json=body), 422, "validation_error")


async def test_stage_change_of_unknown_deal_is_404(api):
    response = await api.patch(f"/api/v1/deals/{MISSING}/stage", json={"stage": "proposal"})
    assert_problem(response, 404, "deal_not_found")


async def test_same_stage_is_a_no_op(api):
    deal = await make_deal(api, status="proposal")
    response = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"})
    assert response.status_code == 200
    assert response.json()["version"] == 1


async def test_delete_and_restore_deal(api):
    deal = await make_deal(api)
    assert (await api.delete(f"/api/v1/deals/{deal['id']}")).status_code == 204
    assert_problem(await api.get(f"/api/v1/deals/{deal['id']}"), 404, "deal_not_found")
    assert (await api.get("/api/v1/deals")).json()["items"] == []
    assert_problem(await api.delete(f"/api/v1/deals/{deal['id']}"), 404, "deal_not_found")
    restored = await api.post(f"/api/v1/deals/{deal['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["is_deleted"] is False
    assert (await api.get(f"/api/v1/deals/{deal['id']}")).status_code == 200


async def test_restore_unknown_deal_is_404(api):
    assert_problem(await api.post(f"/api/v1/deals/{MISSING}/restore"), 404, "deal_not_found")


async def test_restore_of_deal_whose_client_is_deleted_is_409(api):
    deal = await make_deal(api)
    await api.delete(f"/api/v1/deals/{deal['id']}")
    await api.delete(f"/api/v1/clients/{deal['client_id']}")
    assert_problem(await api.post(f"/api/v1/deals/{deal['id']}/restore"), 409, "client_deleted")


async def test_list_order_is_next_review_then_updated_then_id(api):
    client = await make_client(api)
    later = await make_deal(api, client["id"], next_review_at=day(5), title="later")
    sooner = await make_deal(api, client["id"], next_review_at=day(1), title="sooner")
    same_day_a = await make_deal(api, client["id"], next_review_at=day(3), title="a")
    same_day_b = await make_deal(api, client["id"], next_review_at=day(3), title="b")
    # Touching `a` moves it after `b` within the same review day.
    await api.patch(f"/api/v1/deals/{same_day_a['id']}", json={"title": "a2"})
    titles = [d["title"] for d in (await api.get("/api/v1/deals")).json()["items"]]
    assert titles == ["sooner", "b", "a2", "later"]
    assert sooner and later and same_day_b


async def test_list_pages_cover_every_deal_once(api):
    client = await make_client(api)
    made = {(await make_deal(api, client["id"], next_review_at=day(i % 3)))["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/deals", params=params)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    assert set(seen) == made


async def test_list_filters(api):
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    client = await make_client(api)
    other_client = await make_client(api, name="Other")
    a = await make_deal(api, client["id"], title="Casco fleet", owner_id=alice, next_review_at=day(2))
    b = await make_deal(api, client["id"], title="Cargo", owner_id=bob, status="proposal", next_review_at=day(20))
    c = await make_deal(api, other_client["id"], title="Life", description="casco too", next_review_at=day(60))
    overdue = await make_deal(api, other_client["id"], title="Overdue", next_review_at=day(-5))
    await api.patch(f"/api/v1/deals/{overdue['id']}", json={"status": "in_progress"})

    async def ids(params):
        response = await api.get("/api/v1/deals", params=params)
        assert response.status_code == 200, response.text
        return {d["id"] for d in response.json()["items"]}

    assert await ids({"manager": alice}) == {a["id"]}
    assert await ids({"manager": [alice, bob]}) == {a["id"], b["id"]}
    assert await ids({"manager": "__NO_MANAGER__"}) == {c["id"], overdue["id"]}
    assert await ids({"manager": [bob, "__NO_MANAGER__"]}) == {b["id"], c["id"], overdue["id"]}
    assert await ids({"status": "proposal"}) == {b["id"]}
    assert await ids({"stage": "negotiation"}) == {overdue["id"]}
    assert await ids({"stage": "qualification"}) == {a["id"], c["id"]}
    assert await ids({"stage": "qualification", "status": "proposal"}) == set()
    assert await ids({"client_id": other_client["id"]}) == {c["id"], overdue["id"]}
    assert await ids({"period": "7d"}) == {a["id"], overdue["id"]}
    assert await ids({"period": "30d"}) == {a["id"], b["id"], overdue["id"]}
    assert await ids({"period": "all"}) == {a["id"], b["id"], c["id"], overdue["id"]}
    assert await ids({"search": "CASCO"}) == {a["id"], c["id"]}
    total = (await api.get("/api/v1/deals", params={"with_total": "true", "limit": 1})).json()["total"]
    assert total == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"manager": "bob"}, "manager"),
        ({"stage": "won"}, "stage"),
        ({"status": "open"}, "status"),
        ({"period": "14d"}, "period"),
        ({"client_id": "x"}, "client_id"),
        ({"limit": 4294967296}, "limit"),
    ],
)
async def test_invalid_deal_list_parameters_are_422(api, params, field):
    response = await api.get("/api/v1/deals", params=params)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_stage_metrics(api):
    client = await make_client(api)
    for _ in range(2):
        await make_deal(api, client["id"])
    negotiating = await make_deal(api, client["id"])
    await api.patch(f"/api/v1/deals/{negotiating['id']}/stage", json={"stage": "negotiation"})
    won = await make_deal(api, client["id"])
    await api.patch(f"/api/v1/deals/{won['id']}/stage", json={"stage": "closedWon"})
    lost = await make_deal(api, client["id"])
    await api.patch(f"/api/v1/deals/{lost['id']}/stage", json={"stage": "closedLost"})

    response = await api.get("/api/v1/deals/stage-metrics")
    assert response.status_code == 200
    rows = {row["stage"]: row for row in response.json()["items"]}
    assert list(rows) == ["qualification", "negotiation", "proposal", "closedWon", "closedLost"]
    assert {s: r["count"] for s, r in rows.items()} == {
        "qualification": 2,
        "negotiation": 1,
        "proposal": 0,
        "closedWon": 1,
        "closedLost": 1,
    }
    assert all(r["total_value"] == "0.00" for r in rows.values())

    # Non-cancelled, non-deleted payments of live policies count at their planned amount.
    policy = await make_policy(api, won)
    await make_payment(api, policy, planned_amount="1000.00")
    await make_payment(api, policy, planned_amount="250.50")
    cancelled = await make_payment(api, policy, planned_amount="7.00")
    await api.post(payments_url(policy, cancelled["id"], "cancel"))
    deleted = await make_payment(api, policy, planned_amount="9.00")
    await api.delete(payments_url(policy, deleted["id"]))
    other = await make_policy(api, lost)
    await make_payment(api, other, planned_amount="5.00")
    # A policy holding payments cannot be deleted, so its money keeps counting.
    assert (await api.delete(f"/api/v1/policies/{other['id']}")).status_code == 409
    totals = {
        row["stage"]: row["total_value"] for row in (await api.get("/api/v1/deals/stage-metrics")).json()["items"]
    }
    assert totals == {
        "qualification": "0.00",
        "negotiation": "0.00",
        "proposal": "0.00",
        "closedWon": "1250.50",
        "closedLost": "5.00",
    }
    # Reached qualification: 2 there + 1 beyond + 1 won = 4; moved past it: 2.
    assert rows["qualification"]["conversion_rate"] == 0.5
    assert rows["negotiation"]["conversion_rate"] == 0.5
    assert rows["closedWon"]["conversion_rate"] == 0.5
    assert rows["proposal"]["avg_cycle_duration_days"] == 0
    assert rows["closedWon"]["avg_cycle_duration_days"] >= 0


async def test_stage_metrics_take_the_list_filters(api):
    owner = str(uuid.uuid4())
    await make_deal(api, owner_id=owner)
    await make_deal(api)
    rows = (await api.get("/api/v1/deals/stage-metrics", params={"manager": owner})).json()["items"]
    assert sum(r["count"] for r in rows) == 1


async def test_deal_with_live_policies_cannot_be_deleted(api):
    policy = await make_policy(api)
    response = await api.delete(f"/api/v1/deals/{policy['deal_id']}")
    assert_problem(response, 409, "deal_has_policies")
    assert (await api.delete(f"/api/v1/policies/{policy['id']}")).status_code == 204
    assert (await api.delete(f"/api/v1/deals/{policy['deal_id']}")).status_code == 204


async def test_deal_with_live_policies_cannot_move_to_another_client(api):
    policy = await make_policy(api)
    other = await make_client(api, name="Other")
    response = await api.patch(f"/api/v1/deals/{policy['deal_id']}", json={"client_id": other["id"]})
    assert_problem(response, 409, "deal_has_policies")
    deal = (await api.get(f"/api/v1/deals/{policy['deal_id']}")).json()
    assert deal["client_id"] == policy["client_id"]
