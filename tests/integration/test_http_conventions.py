"""Conventions every route follows: problem+json, ETag/If-Match, Idempotency-Key, health, OpenAPI."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth import bearer
from tests.factories import assert_problem, make_client, make_deal
from tests.outbox import outbox_rows
from tests.values import MISSING


async def test_unknown_route_is_a_problem(api):
    assert_problem(await api.get("/api/v1/nothing-here"), 404, "not_found")


async def test_wrong_method_is_a_problem(api):
    assert_problem(await api.put("/api/v1/clients"), 405, "method_not_allowed")


async def test_validation_problem_lists_every_invalid_field(api):
    response = await api.post("/api/v1/deals", json={"title": "", "next_review_at": "soon"})
    body = assert_problem(response, 422, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"client_id", "title", "next_review_at"}
    assert body["instance"] == "/api/v1/deals"


async def test_stale_if_match_is_412_with_the_current_etag(api):
    client = await make_client(api)
    await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "B"}, headers={"If-Match": '"1"'})
    response = await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "C"}, headers={"If-Match": '"1"'})
    assert_problem(response, 412, "precondition_failed")
    assert response.headers["etag"] == '"2"'
    assert (await api.get(f"/api/v1/clients/{client['id']}")).json()["name"] == "B"


@pytest.mark.parametrize("if_match", ['"2"', 'W/"2"', "*", '"9", "2"'])
async def test_current_if_match_forms_are_accepted(api, if_match):
    client = await make_client(api)
    await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "B"})
    response = await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "C"}, headers={"If-Match": if_match})
    if if_match.startswith('"9"'):
        assert response.status_code == 412  # the first entity tag is the one compared
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("if_match", ["garbage", '"99999999999999999999999"', '"4294967297"', '"-1"'])
async def test_if_match_we_never_issued_is_412(api, if_match):
    deal = await make_deal(api)
    response = await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "x"}, headers={"If-Match": if_match})
    assert_problem(response, 412, "precondition_failed")


async def test_delete_and_stage_honour_if_match(api):
    deal = await make_deal(api)
    stale = {"If-Match": '"7"'}
    assert_problem(await api.delete(f"/api/v1/deals/{deal['id']}", headers=stale), 412, "precondition_failed")
    response = await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=stale)
    assert_problem(response, 412, "precondition_failed")
    assert (await api.delete(f"/api/v1/deals/{deal['id']}", headers={"If-Match": '"1"'})).status_code == 204


async def test_concurrent_patches_with_the_same_if_match_exactly_one_wins(api):
    deal = await make_deal(api)

    async def patch(title: str):
        return await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": title}, headers={"If-Match": '"1"'})

    for _ in range(5):
        deal = await make_deal(api)
        responses = await asyncio.gather(*(patch(f"title {i}") for i in range(8)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [412] * 7, statuses
        winner = next(r for r in responses if r.status_code == 200).json()
        assert (await api.get(f"/api/v1/deals/{deal['id']}")).json()["title"] == winner["title"]


async def test_idempotent_retry_returns_the_first_response(api, db):
    client = await make_client(api)
    body = {"client_id": client["id"], "title": "Once", "next_review_at": "2026-12-01"}
    headers = {"Idempotency-Key": "deal-create-1"}
    first = await api.post("/api/v1/deals", json=body, headers=headers)
    second = await api.post("/api/v1/deals", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM crm.deals") == 1
    assert len(await outbox_rows(db, routing_key="deal.created")) == 1


async def test_same_json_spelled_differently_is_the_same_request(api):
    headers = {"Idempotency-Key": "k", "content-type": "application/json"}
    first = await api.post("/api/v1/clients", content=b'{"name": "A", "status": "prospect"}', headers=headers)
    second = await api.post("/api/v1/clients", content=b'{"status":"prospect","name":"A"}', headers=headers)
    assert second.json()["id"] == first.json()["id"]


async def test_idempotency_key_with_another_body_is_422(api):
    headers = {"Idempotency-Key": "client-1"}
    assert (await api.post("/api/v1/clients", json={"name": "A"}, headers=headers)).status_code == 201
    response = await api.post("/api/v1/clients", json={"name": "B"}, headers=headers)
    assert_problem(response, 422, "idempotency_key_reused", "Idempotency-Key")


async def test_idempotency_keys_are_per_route_and_caller(api):
    headers = {"Idempotency-Key": "shared"}
    first = await api.post("/api/v1/clients", json={"name": "A"}, headers=headers)
    other_user = {**headers, **bearer(uuid.uuid4(), "admin")}
    second = await api.post("/api/v1/clients", json={"name": "A"}, headers=other_user)
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


async def test_failed_request_does_not_burn_the_key(api):
    headers = {"Idempotency-Key": "retry-after-fix"}
    body = {"client_id": MISSING, "title": "T", "next_review_at": "2026-12-01"}
    assert_problem(await api.post("/api/v1/deals", json=body, headers=headers), 404, "client_not_found")
    # Nothing was changed, so the same request may be tried again and answered afresh.
    assert_problem(await api.post("/api/v1/deals", json=body, headers=headers), 404, "client_not_found")


async def test_concurrent_requests_with_one_key_create_once(api, db):
    client = await make_client(api)
    body = {"client_id": client["id"], "title": "Race", "next_review_at": "2026-12-01"}
    headers = {"Idempotency-Key": "race"}
    responses = await asyncio.gather(*(api.post("/api/v1/deals", json=body, headers=headers) for _ in range(6)))
    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert await db.fetchval("SELECT count(*) FROM crm.deals") == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_key_in_use"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ".encode()])
async def test_malformed_idempotency_key_is_400(api, key):
    response = await api.post("/api/v1/clients", json={"name": "A"}, headers={"Idempotency-Key": key})
    assert_problem(response, 400, "invalid_header", "Idempotency-Key")


async def test_user_headers_do_not_name_the_caller_the_token_does(api):
    actor = uuid.uuid4()
    headers = {**bearer(actor, "admin"), "X-User-Id": str(uuid.uuid4()), "X-User-Roles": "admin"}
    response = await api.post("/api/v1/clients", json={"name": "A"}, headers=headers)
    assert response.json()["created_by_id"] == str(actor)


async def test_healthz(api):
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database_at_head(api):
    response = await api.get("/readyz")
    assert response.status_code == 200
    database = response.json()["components"]["database"]
    assert database["ok"] is True
    assert database["revision"] == database["head"]


async def test_request_id_is_echoed(api):
    response = await api.get("/healthz", headers={"X-Request-ID": "0f8fad5bd9cb469fa16570867728950e"})
    assert response.headers["x-request-id"] == "0f8fad5bd9cb469fa16570867728950e"


async def test_openapi_documents_every_route_and_its_problems(api):
    spec = (await api.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        "/api/v1/clients": {"get", "post"},
        "/api/v1/clients/{client_id}": {"get", "patch", "delete"},
        "/api/v1/clients/{client_id}/restore": {"post"},
        "/api/v1/deals": {"get", "post"},
        "/api/v1/deals/{deal_id}": {"get", "patch", "delete"},
        "/api/v1/deals/{deal_id}/restore": {"post"},
        "/api/v1/deals/{deal_id}/stage": {"patch"},
        "/api/v1/deals/stage-metrics": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert "Problem" in spec["components"]["schemas"]
    create = paths["/api/v1/deals"]["post"]
    assert "application/problem+json" in create["responses"]["404"]["content"]
    assert create["requestBody"]["content"]["application/json"]["schema"]
    assert spec["components"]["schemas"]["DealCreate"]["examples"]
    deal_schema = spec["components"]["schemas"]["Deal"]
    assert "stage" in deal_schema["properties"]
