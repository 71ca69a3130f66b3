"""Pipelines API: the default pipeline, pipelines with their stages, stage changes, reorder, the default moving,
deletes refused while deals stand in the way, and who may change them."""

from __future__ import annotations

import uuid

from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID
from tests.auth import bearer
from tests.factories import assert_problem, make_deal
from tests.outbox import recorded_events
from tests.pipelines import DEFAULT, PIPELINES, RENEWAL_STAGES, make_pipeline, move, stage_id
from tests.values import MISSING


async def test_the_default_pipeline_has_the_contracts_five_stages(api):
    response = await api.get(DEFAULT)

    assert response.status_code == 200
    pipeline = response.json()
    assert pipeline["is_default"] is True and pipeline["lost_reason_required"] is False
    assert [(s["key"], s["kind"], s["probability"], s["position"]) for s in pipeline["stages"]] == [
        ("qualification", "open", 10, 0),
        ("negotiation", "open", 40, 1),
        ("proposal", "open", 70, 2),
        ("closedWon", "won", 100, 3),
        ("closedLost", "lost", 0, 4),
    ]
    assert response.headers["etag"] == f'"{pipeline["version"]}"'


async def test_a_pipeline_is_created_with_its_stages_in_order(api, db):
    response = await api.post(
        PIPELINES, json={"name": "Renewals", "stages": RENEWAL_STAGES, "lost_reasons": ["Price too high"]}
    )

    assert response.status_code == 201, response.text
    pipeline = response.json()
    assert response.headers["location"] == f"{PIPELINES}/{pipeline['id']}"
    assert pipeline["is_default"] is False and pipeline["lost_reason_required"] is True
    assert [(s["key"], s["position"], s["probability"], s["sla_days"]) for s in pipeline["stages"]] == [
        ("reminded", 0, 0, 7),
        ("quoted", 1, 60, None),
        ("renewed", 2, 100, None),  # a won stage is certain unless told
        ("churned", 3, 0, None),
    ]
    [(aggregate, subject, data)] = await recorded_events(db, "pipeline.created")
    assert (aggregate, subject, data["stages"]) == ("pipeline", pipeline["id"], pipeline["stages"])
    listed = (await api.get(PIPELINES)).json()["items"]
    assert [p["name"] for p in listed] == ["Renewals", "Sales"]


async def test_a_pipeline_without_a_won_stage_is_422_naming_its_stages(api):
    stages = [s for s in RENEWAL_STAGES if s["kind"] != "won"] + [{"key": "x", "name": "X", "kind": "open"}]
    response = await api.post(PIPELINES, json={"name": "No win", "stages": stages})
    assert_problem(response, 422, "validation_error", "stages")


async def test_stage_keys_are_unique_and_contract_keys_keep_their_kind(api):
    stages = [
        *RENEWAL_STAGES,
        {"key": "quoted", "name": "Again", "kind": "open"},
        {"key": "closedWon", "name": "W", "kind": "lost"},
    ]
    body = assert_problem(await api.post(PIPELINES, json={"name": "Bad", "stages": stages}), 422, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["stages.4.key", "stages.5.kind"]


async def test_a_name_a_live_pipeline_has_is_409(api):
    await make_pipeline(api, name="Tenders")
    response = await api.post(PIPELINES, json={"name": "Tenders", "stages": RENEWAL_STAGES})
    assert_problem(response, 409, "pipeline_name_conflict", "name")


async def test_only_admins_and_managers_change_pipelines(api):
    seller = bearer(uuid.uuid4(), "seller")
    refused = await api.post(PIPELINES, json={"name": "Mine", "stages": RENEWAL_STAGES}, headers=seller)
    assert_problem(refused, 403, "forbidden")
    assert (await api.get(DEFAULT, headers=seller)).status_code == 200
    manager = bearer(uuid.uuid4(), "manager")
    assert (
        await api.post(PIPELINES, json={"name": "Theirs", "stages": RENEWAL_STAGES}, headers=manager)
    ).status_code == 201


async def test_a_stage_added_goes_last_and_the_pipeline_is_updated(api, db):
    pipeline = await make_pipeline(api)

    response = await api.post(
        f"{PIPELINES}/{pipeline['id']}/stages", json={"key": "signed", "name": "Signed", "kind": "open"}
    )

    assert response.status_code == 201, response.text
    stage = response.json()
    assert (stage["key"], stage["position"], stage["pipeline_id"]) == ("signed", 4, pipeline["id"])
    after = (await api.get(f"{PIPELINES}/{pipeline['id']}")).json()
    assert after["version"] == pipeline["version"] + 1
    [(_, _, data)] = await recorded_events(db, "pipeline.updated")
    assert [s["key"] for s in data["stages"]] == ["reminded", "quoted", "renewed", "churned", "signed"]


async def test_a_stage_key_the_pipeline_has_is_409(api):
    pipeline = await make_pipeline(api)
    response = await api.post(
        f"{PIPELINES}/{pipeline['id']}/stages", json={"key": "quoted", "name": "Q", "kind": "open"}
    )
    assert_problem(response, 409, "stage_key_conflict", "key")


async def test_a_stage_changes_its_name_probability_and_sla_but_never_its_key_or_kind(api):
    pipeline = await make_pipeline(api)
    url = f"{PIPELINES}/{pipeline['id']}/stages/{stage_id(pipeline, 'quoted')}"

    changed = await api.patch(url, json={"name": "Quote sent", "probability": 55, "sla_days": None})

    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["probability"], changed.json()["sla_days"]) == (
        "Quote sent",
        55,
        None,
    )
    assert_problem(await api.patch(url, json={"key": "other"}), 422, "validation_error", "key")
    assert_problem(await api.patch(url, json={"kind": "won"}), 422, "validation_error", "kind")
    assert_problem(await api.patch(url, json={"probability": 101}), 422, "validation_error", "probability")
    assert_problem(await api.patch(url, json={"probability": True}), 422, "validation_error", "probability")


async def test_a_stage_with_live_deals_cannot_be_removed_until_they_move(api, db):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    await move(api, deal, "quoted")
    url = f"{PIPELINES}/{pipeline['id']}/stages/{stage_id(pipeline, 'quoted')}"

    assert_problem(await api.delete(url), 409, "stage_has_deals")
    await move(api, deal, "reminded")
    assert (await api.delete(url)).status_code == 204

    after = (await api.get(f"{PIPELINES}/{pipeline['id']}")).json()
    assert [(s["key"], s["position"]) for s in after["stages"]] == [("reminded", 0), ("renewed", 1), ("churned", 2)]
    assert_problem(await move(api, deal, "quoted"), 422, "validation_error", "stage")
    assert_problem(await api.delete(url), 404, "stage_not_found")


async def test_the_last_stage_of_a_kind_cannot_be_removed(api):
    pipeline = await make_pipeline(api)
    response = await api.delete(f"{PIPELINES}/{pipeline['id']}/stages/{stage_id(pipeline, 'renewed')}")
    assert_problem(response, 409, "last_stage_of_kind")


async def test_a_removed_stage_comes_back_last(api):
    pipeline = await make_pipeline(api)
    quoted = stage_id(pipeline, "quoted")
    await api.delete(f"{PIPELINES}/{pipeline['id']}/stages/{quoted}")

    restored = await api.post(f"{PIPELINES}/{pipeline['id']}/stages/{quoted}/restore")

    assert restored.status_code == 200, restored.text
    assert restored.json()["position"] == 3
    keys = [s["key"] for s in (await api.get(f"{PIPELINES}/{pipeline['id']}")).json()["stages"]]
    assert keys == ["reminded", "renewed", "churned", "quoted"]


async def test_stages_are_reordered_with_one_call(api):
    pipeline = await make_pipeline(api)
    order = [stage_id(pipeline, key) for key in ("quoted", "reminded", "churned", "renewed")]

    response = await api.put(f"{PIPELINES}/{pipeline['id']}/stages/order", json=order)

    assert response.status_code == 200, response.text
    assert [s["id"] for s in response.json()["stages"]] == order
    assert [s["position"] for s in response.json()["stages"]] == [0, 1, 2, 3]
    assert response.json()["version"] == pipeline["version"] + 1
    assert response.headers["etag"] == f'"{pipeline["version"] + 1}"'


async def test_an_order_must_list_every_stage_of_the_pipeline_once(api):
    pipeline = await make_pipeline(api)
    ids = [s["id"] for s in pipeline["stages"]]
    url = f"{PIPELINES}/{pipeline['id']}/stages/order"

    assert_problem(await api.put(url, json=ids[:3]), 422, "validation_error", "body")
    assert_problem(await api.put(url, json=[*ids, ids[0]]), 422, "validation_error", "4")
    assert_problem(await api.put(url, json=[*ids[:3], MISSING]), 422, "validation_error", "3")
    other = await make_pipeline(api)
    assert_problem(await api.put(url, json=[*ids[:3], other["stages"][0]["id"]]), 422, "validation_error", "3")
    assert (await api.get(f"{PIPELINES}/{pipeline['id']}")).json()["version"] == pipeline["version"]


async def test_the_order_path_is_not_taken_for_a_stage_id(api):
    pipeline = await make_pipeline(api)
    response = await api.patch(f"{PIPELINES}/{pipeline['id']}/stages/order", json={"name": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT"


async def test_another_pipeline_becomes_the_default_and_new_deals_go_there(api, db):
    pipeline = await make_pipeline(api)

    response = await api.patch(f"{PIPELINES}/{pipeline['id']}", json={"is_default": True})

    assert response.status_code == 200 and response.json()["is_default"] is True
    assert (await api.get(DEFAULT)).json()["is_default"] is False
    updated = await recorded_events(db, "pipeline.updated")
    assert [(subject, data["is_default"]) for _, subject, data in updated] == [
        (str(SEEDED_PIPELINE_ID), False),
        (pipeline["id"], True),
    ]
    deal = await make_deal(api)
    assert (deal["pipeline_id"], deal["stage"], deal["status"]) == (pipeline["id"], "reminded", "draft")
    assert_problem(
        await api.patch(f"{PIPELINES}/{pipeline['id']}", json={"is_default": False}), 422, "validation_error"
    )
    assert_problem(await api.delete(f"{PIPELINES}/{pipeline['id']}"), 409, "pipeline_is_default")
    assert (await api.delete(DEFAULT)).status_code == 204  # no deals in it, and not the default any more


async def test_a_pipeline_created_as_the_default_takes_over_from_the_previous_one(api, db):
    pipeline = await make_pipeline(api, is_default=True)

    assert pipeline["is_default"] is True
    assert (await api.get(DEFAULT)).json()["is_default"] is False
    assert (await make_deal(api))["pipeline_id"] == pipeline["id"]
    [(_, subject, data)] = await recorded_events(db, "pipeline.updated")
    assert (subject, data["is_default"]) == (str(SEEDED_PIPELINE_ID), False)


async def test_the_default_pipeline_cannot_be_deleted(api):
    assert_problem(await api.delete(DEFAULT), 409, "pipeline_is_default")


async def test_a_pipeline_with_live_deals_cannot_be_deleted_and_a_deleted_one_comes_back(api, db):
    pipeline = await make_pipeline(api, lost_reasons=[])
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    url = f"{PIPELINES}/{pipeline['id']}"

    assert_problem(await api.delete(url), 409, "pipeline_has_deals")
    await api.delete(f"/api/v1/deals/{deal['id']}")
    assert (await api.delete(url)).status_code == 204
    assert_problem(await api.get(url), 404, "pipeline_not_found")
    assert_problem(await api.post(f"/api/v1/deals/{deal['id']}/restore"), 409, "pipeline_deleted")
    body = {
        "client_id": deal["client_id"],
        "title": "T",
        "next_review_at": deal["next_review_at"],
        "pipeline_id": pipeline["id"],
    }
    assert_problem(await api.post("/api/v1/deals", json=body), 404, "pipeline_not_found", "pipeline_id")

    restored = await api.post(f"{url}/restore")

    assert restored.status_code == 200 and len(restored.json()["stages"]) == 4
    assert (await api.post(f"/api/v1/deals/{deal['id']}/restore")).status_code == 200
    assert [r[2]["is_deleted"] for r in await recorded_events(db, "pipeline.deleted")] == [True]
    assert len(await recorded_events(db, "pipeline.restored")) == 1


async def test_unknown_pipelines_and_stages_are_404(api):
    assert_problem(await api.get(f"{PIPELINES}/{MISSING}"), 404, "pipeline_not_found")
    assert_problem(await api.patch(f"{PIPELINES}/{MISSING}", json={"name": "x"}), 404, "pipeline_not_found")
    stage = f"{DEFAULT}/stages/{MISSING}"
    assert_problem(await api.patch(stage, json={"name": "x"}), 404, "stage_not_found")
    assert_problem(await api.post(f"{stage}/restore"), 404, "stage_not_found")
    assert str(SEEDED_PIPELINE_ID) in DEFAULT
