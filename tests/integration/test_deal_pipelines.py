"""Deals in pipelines: where a new deal starts, stage moves and the status that follows them, lost reasons, moving
to another pipeline, the list's pipeline and stage filters, and stage metrics of a pipeline."""

from __future__ import annotations

import uuid

import pytest

from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID
from tests.auth import bearer
from tests.factories import assert_problem, make_client, make_deal
from tests.outbox import recorded_events
from tests.pipelines import DEFAULT, LOST_REASONS, PIPELINES, make_pipeline, move, stage_id

DEALS = "/api/v1/deals"


async def test_a_deal_of_the_default_pipeline_starts_as_before(api):
    deal = await make_deal(api, status="in_progress")
    assert (deal["pipeline_id"], deal["stage"], deal["status"]) == (
        str(SEEDED_PIPELINE_ID),
        "negotiation",
        "in_progress",
    )
    assert deal["stage_id"] and deal["stage_entered_at"] and deal["lost_reason"] is None


async def test_a_deal_starts_in_the_first_open_stage_of_its_pipeline(api):
    pipeline = await make_pipeline(api)

    deal = await make_deal(api, pipeline_id=pipeline["id"])

    assert (deal["pipeline_id"], deal["stage"], deal["stage_id"]) == (
        pipeline["id"],
        "reminded",
        stage_id(pipeline, "reminded"),
    )
    assert deal["status"] == "draft"


async def test_stage_moves_in_another_pipeline_give_the_status_of_the_stages_kind(api):
    pipeline = await make_pipeline(api, lost_reasons=[])
    deal = await make_deal(api, pipeline_id=pipeline["id"], status="proposal")

    quoted = (await move(api, deal, "quoted")).json()
    renewed = (await move(api, deal, "renewed")).json()
    reopened = (await move(api, deal, "reminded")).json()

    assert (quoted["stage"], quoted["status"]) == ("quoted", "proposal")  # an open stage keeps an open status
    assert (renewed["stage"], renewed["status"]) == ("renewed", "won") and renewed["closed_at"] is not None
    assert (reopened["stage"], reopened["status"], reopened["closed_at"]) == ("reminded", "in_progress", None)


async def test_a_closed_deal_in_another_pipeline_is_final_for_non_admins(api):
    owner = uuid.uuid4()
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"], owner_id=str(owner))
    await move(api, deal, "renewed")
    response = await api.patch(f"{DEALS}/{deal['id']}/stage", json={"stage": "quoted"}, headers=bearer(owner, "seller"))
    assert_problem(response, 409, "invalid_stage_transition")


@pytest.mark.parametrize("stage", ["negotiation", "closedWon", "nope"])
async def test_a_stage_the_deals_pipeline_lacks_is_422_naming_stage(api, stage):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    assert_problem(await move(api, deal, stage), 422, "validation_error", "stage")


async def test_a_lost_stage_needs_a_reason_from_the_pipelines_list(api, db):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])

    missing = await move(api, deal, "churned")
    unknown = await move(api, deal, "churned", lost_reason="Bad weather")
    lost = await move(api, deal, "churned", lost_reason=LOST_REASONS[1])

    assert_problem(missing, 422, "lost_reason_required", "lost_reason")
    assert_problem(unknown, 422, "invalid_lost_reason", "lost_reason")
    assert lost.status_code == 200, lost.text
    assert (lost.json()["status"], lost.json()["lost_reason"]) == ("lost", LOST_REASONS[1])
    [(_, _, changed)] = await recorded_events(db, "deal.stage.changed")
    assert (changed["new_stage"], changed["lost_reason"]) == ("churned", LOST_REASONS[1])


async def test_with_an_empty_list_any_reason_of_up_to_255_characters_does(api):
    pipeline = await make_pipeline(api, lost_reasons=[])
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    assert_problem(await move(api, deal, "churned", lost_reason="x" * 256), 422, "validation_error", "lost_reason")
    assert (await move(api, deal, "churned", lost_reason="x" * 255)).json()["lost_reason"] == "x" * 255


async def test_the_default_pipeline_takes_a_lost_deal_without_a_reason_until_one_is_required(api):
    deal = await make_deal(api)
    assert (await move(api, deal, "closedLost")).json()["lost_reason"] is None
    other = await make_deal(api)
    await api.patch(DEFAULT, json={"lost_reason_required": True, "lost_reasons": ["Price"]})
    assert_problem(await move(api, other, "closedLost"), 422, "lost_reason_required", "lost_reason")
    assert (await move(api, other, "closedLost", lost_reason="Price")).json()["lost_reason"] == "Price"


async def test_a_reason_is_only_for_a_lost_stage_and_leaving_it_clears_the_reason(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    assert_problem(
        await move(api, deal, "quoted", lost_reason=LOST_REASONS[0]), 422, "invalid_lost_reason", "lost_reason"
    )
    await move(api, deal, "churned", lost_reason=LOST_REASONS[0])

    reopened = await move(api, deal, "quoted")

    assert (reopened.json()["status"], reopened.json()["lost_reason"]) == ("in_progress", None)


async def test_patch_with_status_lost_moves_to_the_lost_stage_with_its_reason(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    url = f"{DEALS}/{deal['id']}"

    assert_problem(await api.patch(url, json={"status": "lost"}), 422, "lost_reason_required", "lost_reason")
    lost = await api.patch(url, json={"status": "lost", "lost_reason": LOST_REASONS[0]})
    corrected = await api.patch(url, json={"lost_reason": LOST_REASONS[1]})

    assert (lost.json()["stage"], lost.json()["lost_reason"]) == ("churned", LOST_REASONS[0])
    assert (corrected.json()["stage"], corrected.json()["lost_reason"]) == ("churned", LOST_REASONS[1])
    assert_problem(await api.patch(url, json={"lost_reason": None}), 422, "lost_reason_required")


async def test_correcting_a_lost_reason_or_keeping_a_status_leaves_the_stage_alone(api):
    pipeline = await make_pipeline(
        api,
        stages=[
            {"key": "quoted", "name": "Q", "kind": "open"},
            {"key": "proposal", "name": "P", "kind": "open"},
            {"key": "renewed", "name": "R", "kind": "won"},
            {"key": "churned", "name": "C", "kind": "lost"},
        ],
    )
    deal = await make_deal(api, pipeline_id=pipeline["id"], status="in_progress")
    assert deal["stage"] == "quoted"
    await move(api, deal, "quoted")
    url = f"{DEALS}/{deal['id']}"

    kept = await api.patch(url, json={"title": "Same stage", "status": "in_progress"})
    refused = await api.patch(url, json={"lost_reason": LOST_REASONS[0]})
    named = await api.patch(url, json={"status": "proposal"})

    assert (kept.json()["stage"], kept.json()["version"]) == ("quoted", 2)
    assert_problem(refused, 422, "invalid_lost_reason", "lost_reason")
    assert (named.json()["stage"], named.json()["status"]) == ("proposal", "proposal")  # the contract's stage


async def test_a_status_two_stages_could_hold_asks_for_the_stage(api):
    stages = [
        {"key": "open", "name": "Open", "kind": "open"},
        {"key": "won_a", "name": "Won A", "kind": "won"},
        {"key": "won_b", "name": "Won B", "kind": "won"},
        {"key": "lost", "name": "Lost", "kind": "lost"},
    ]
    pipeline = await make_pipeline(api, stages=stages)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    response = await api.patch(f"{DEALS}/{deal['id']}", json={"status": "won"})
    assert_problem(response, 422, "stage_required", "status")
    assert (await move(api, deal, "won_b")).json()["status"] == "won"


async def test_patch_status_in_another_pipeline_keeps_the_stage_while_it_holds_the_status(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    await move(api, deal, "quoted")
    changed = (await api.patch(f"{DEALS}/{deal['id']}", json={"status": "proposal"})).json()
    assert (changed["stage"], changed["status"]) == ("quoted", "proposal")


async def test_moving_to_another_pipeline_keeps_the_stage_key_when_it_has_it(api, db):
    tenders = await make_pipeline(
        api,
        stages=[
            {"key": "qualification", "name": "Q", "kind": "open"},
            {"key": "proposal", "name": "P", "kind": "open"},
            {"key": "closedWon", "name": "W", "kind": "won"},
            {"key": "closedLost", "name": "L", "kind": "lost"},
        ],
    )
    deal = await make_deal(api, status="proposal")

    response = await api.patch(f"{DEALS}/{deal['id']}/pipeline", json={"pipeline_id": tenders["id"]})

    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["pipeline_id"], moved["stage"], moved["status"]) == (tenders["id"], "proposal", "proposal")
    assert moved["stage_id"] == stage_id(tenders, "proposal")
    [(_, _, changed)] = await recorded_events(db, "deal.stage.changed")
    assert (changed["old_pipeline_id"], changed["pipeline_id"]) == (str(SEEDED_PIPELINE_ID), tenders["id"])
    assert (changed["old_stage"], changed["new_stage"]) == ("proposal", "proposal")


async def test_moving_to_another_pipeline_maps_by_kind_when_only_one_stage_has_it(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api)
    await move(api, deal, "closedWon")
    moved = (await api.patch(f"{DEALS}/{deal['id']}/pipeline", json={"pipeline_id": pipeline["id"]})).json()
    assert (moved["stage"], moved["status"]) == ("renewed", "won")


async def test_moving_to_another_pipeline_asks_for_the_stage_when_the_kind_does_not_decide(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, status="in_progress")
    url = f"{DEALS}/{deal['id']}/pipeline"

    asked = await api.patch(url, json={"pipeline_id": pipeline["id"]})
    named = await api.patch(url, json={"pipeline_id": pipeline["id"], "stage": "quoted"})

    assert_problem(asked, 422, "stage_required", "stage")
    assert (named.json()["pipeline_id"], named.json()["stage"], named.json()["status"]) == (
        pipeline["id"],
        "quoted",
        "in_progress",
    )
    assert_problem(
        await api.patch(url, json={"pipeline_id": pipeline["id"], "stage": "negotiation"}),
        422,
        "validation_error",
        "stage",
    )
    missing = await api.patch(url, json={"pipeline_id": str(uuid.uuid4())})
    assert_problem(missing, 404, "pipeline_not_found", "pipeline_id")


async def test_moving_into_a_lost_stage_of_another_pipeline_takes_its_reasons(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api)
    await move(api, deal, "closedLost", lost_reason="Anything goes here")
    url = f"{DEALS}/{deal['id']}/pipeline"
    assert_problem(
        await api.patch(url, json={"pipeline_id": pipeline["id"]}), 422, "invalid_lost_reason", "lost_reason"
    )
    moved = await api.patch(url, json={"pipeline_id": pipeline["id"], "lost_reason": LOST_REASONS[0]})
    assert (moved.json()["stage"], moved.json()["lost_reason"]) == ("churned", LOST_REASONS[0])


async def test_the_list_filters_by_pipeline_and_by_stage_keys_of_any_pipeline(api):
    pipeline = await make_pipeline(
        api,
        stages=[
            {"key": "proposal", "name": "P", "kind": "open"},
            {"key": "won", "name": "W", "kind": "won"},
            {"key": "gone", "name": "G", "kind": "lost"},
        ],
    )
    client = await make_client(api)
    sales = await make_deal(api, client["id"], status="proposal")
    other = await make_deal(api, client["id"], pipeline_id=pipeline["id"], status="proposal")
    drafted = await make_deal(api, client["id"])

    async def ids(params):
        response = await api.get(DEALS, params=params)
        assert response.status_code == 200, response.text
        return {d["id"] for d in response.json()["items"]}

    assert await ids({"pipeline_id": pipeline["id"]}) == {other["id"]}
    assert await ids({"stage": "proposal"}) == {sales["id"], other["id"]}
    assert await ids({"stage": "proposal", "pipeline_id": str(SEEDED_PIPELINE_ID)}) == {sales["id"]}
    assert await ids({"stage": ["qualification", "proposal"], "status": "draft"}) == {drafted["id"]}
    assert_problem(
        await api.get(DEALS, params={"stage": "gone", "pipeline_id": str(SEEDED_PIPELINE_ID)}),
        422,
        "validation_error",
        "stage",
    )
    assert await ids({"stage": "gone"}) == set()


async def test_stage_metrics_of_a_pipeline_follow_its_stages(api):
    pipeline = await make_pipeline(api)
    for key in ("reminded", "quoted", "quoted", "renewed"):
        deal = await make_deal(api, pipeline_id=pipeline["id"])
        await move(api, deal, key)
    await make_deal(api)  # in the default pipeline

    rows = (await api.get(f"{DEALS}/stage-metrics", params={"pipeline_id": pipeline["id"]})).json()["items"]
    default_rows = (await api.get(f"{DEALS}/stage-metrics")).json()["items"]

    assert [(r["stage"], r["count"]) for r in rows] == [("reminded", 1), ("quoted", 2), ("renewed", 1), ("churned", 0)]
    assert rows[0]["conversion_rate"] == 0.75 and rows[2]["conversion_rate"] == 1.0
    assert sum(r["count"] for r in default_rows) == 1
    missing = await api.get(f"{DEALS}/stage-metrics", params={"pipeline_id": str(uuid.uuid4())})
    assert_problem(missing, 404, "pipeline_not_found", "pipeline_id")


async def test_a_deleted_deal_whose_stage_was_removed_comes_back_once_the_stage_does(api):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    await move(api, deal, "quoted")
    await api.delete(f"{DEALS}/{deal['id']}")
    quoted = f"{PIPELINES}/{pipeline['id']}/stages/{stage_id(pipeline, 'quoted')}"
    assert (await api.delete(quoted)).status_code == 204  # no live deal stands in it

    assert_problem(await api.post(f"{DEALS}/{deal['id']}/restore"), 409, "stage_deleted")
    await api.post(f"{quoted}/restore")
    restored = await api.post(f"{DEALS}/{deal['id']}/restore")

    assert (restored.status_code, restored.json()["stage"]) == (200, "quoted")
