"""Policy documents API: link, list, unlink; unchecked without Documents, checked against a real stand-in server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.apps import free_port, running_app
from tests.documents_stub import DocumentsStub
from tests.factories import assert_problem, make_policy
from tests.outbox import event_data, outbox_rows
from tests.values import MISSING


@asynccontextmanager
async def documents_api(settings, base_url: str, timeout: float = 2.0) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own that checks links against ``base_url``, with its lifespan running."""
    update = {"documents_base_url": base_url, "documents_timeout": timeout}
    async with running_app(settings.model_copy(update=update)) as (_, client):
        yield client


@pytest.fixture(scope="module")
def stub() -> AsyncIterator[DocumentsStub]:
    server = DocumentsStub().start()
    yield server
    server.stop()


@pytest.fixture
async def checked(settings, stub, db) -> AsyncIterator[httpx.AsyncClient]:
    stub.reset()
    async with documents_api(settings, stub.base_url, timeout=0.5) as client:
        yield client


async def link(api, policy_id, document_id, **kwargs):
    return await api.post(f"/api/v1/policies/{policy_id}/documents", json={"document_id": str(document_id)}, **kwargs)


# --- without CRM_DOCUMENTS_BASE_URL: links are accepted unchecked -------------------------------------------


async def test_link_is_accepted_unchecked_without_a_documents_service(api):
    policy = await make_policy(api)
    document_id = str(uuid.uuid4())
    response = await link(api, policy["id"], document_id)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "policy_id", "document_id", "created_at"}
    assert (body["policy_id"], body["document_id"]) == (policy["id"], document_id)
    listed = (await api.get(f"/api/v1/policies/{policy['id']}/documents")).json()
    assert listed == {"items": [body], "next_cursor": None, "total": None}


async def test_duplicate_link_is_409(api):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    assert (await link(api, policy["id"], document_id)).status_code == 201
    assert_problem(await link(api, policy["id"], document_id), 409, "document_already_linked", "document_id")
    other = await make_policy(api)
    assert (await link(api, other["id"], document_id)).status_code == 201


async def test_unlink(api):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    await link(api, policy["id"], document_id)
    response = await api.delete(f"/api/v1/policies/{policy['id']}/documents/{document_id}")
    assert response.status_code == 204
    assert (await api.get(f"/api/v1/policies/{policy['id']}/documents")).json()["items"] == []
    again = await api.delete(f"/api/v1/policies/{policy['id']}/documents/{document_id}")
    assert_problem(again, 404, "document_not_linked")
    assert (await link(api, policy["id"], document_id)).status_code == 201


async def test_unlink_of_a_document_linked_elsewhere_is_404(api):
    policy, other = await make_policy(api), await make_policy(api)
    document_id = uuid.uuid4()
    await link(api, other["id"], document_id)
    response = await api.delete(f"/api/v1/policies/{policy['id']}/documents/{document_id}")
    assert_problem(response, 404, "document_not_linked")


async def test_unknown_or_deleted_policy_is_404(api):
    document_id = uuid.uuid4()
    assert_problem(await link(api, MISSING, document_id), 404, "policy_not_found")
    assert_problem(await api.get(f"/api/v1/policies/{MISSING}/documents"), 404, "policy_not_found")
    response = await api.delete(f"/api/v1/policies/{MISSING}/documents/{document_id}")
    assert_problem(response, 404, "policy_not_found")

    policy = await make_policy(api)
    await link(api, policy["id"], document_id)
    await api.delete(f"/api/v1/policies/{policy['id']}")
    assert_problem(await link(api, policy["id"], uuid.uuid4()), 404, "policy_not_found")
    assert_problem(await api.get(f"/api/v1/policies/{policy['id']}/documents"), 404, "policy_not_found")
    response = await api.delete(f"/api/v1/policies/{policy['id']}/documents/{document_id}")
    assert_problem(response, 404, "policy_not_found")
    # Restoring the policy brings its links back.
    await api.post(f"/api/v1/policies/{policy['id']}/restore")
    assert len((await api.get(f"/api/v1/policies/{policy['id']}/documents")).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "document_id"),
        ({"document_id": None}, "document_id"),
        ({"document_id": "doc-1"}, "document_id"),
        ({"document_id": 4294967296}, "document_id"),
        ({"document_id": "a\x00b"}, "document_id"),
        ({"document_id": str(uuid.uuid4()), "policy_id": MISSING}, "policy_id"),
    ],
)
async def test_invalid_link_body_is_422(api, body, field):
    policy = await make_policy(api)
    response = await api.post(f"/api/v1/policies/{policy['id']}/documents", json=body)
    assert_problem(response, 422, "validation_error", field)


async def test_invalid_path_ids_are_422(api):
    assert_problem(await api.get("/api/v1/policies/x/documents"), 422, "validation_error", "policy_id")
    response = await api.delete(f"/api/v1/policies/{MISSING}/documents/not-a-uuid")
    assert_problem(response, 422, "validation_error", "document_id")


async def test_list_is_oldest_first_and_pages_cover_every_link_once(api):
    policy = await make_policy(api)
    made = [(await link(api, policy["id"], uuid.uuid4())).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "with_total": "true", **({"cursor": cursor} if cursor else {})}
        page = (await api.get(f"/api/v1/policies/{policy['id']}/documents", params=params)).json()
        assert page["total"] == 5
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"limit": 4294967296}, 422, "validation_error"),
        ({"limit": 201}, 422, "validation_error"),
        ({"cursor": "WyJwb2xpY2llcyIsW11d"}, 400, "invalid_cursor"),  # ["policies",[]]
        ({"cursor": "%%%"}, 400, "invalid_cursor"),
    ],
)
async def test_invalid_list_parameters(api, params, status, code):
    policy = await make_policy(api)
    response = await api.get(f"/api/v1/policies/{policy['id']}/documents", params=params)
    assert_problem(response, status, code)


async def test_link_with_idempotency_key_is_replayed(api, db):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    headers = {"Idempotency-Key": "link-1"}
    first = await link(api, policy["id"], document_id, headers=headers)
    second = await link(api, policy["id"], document_id, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM crm.policy_documents") == 1


async def test_link_and_unlink_events(api, db):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    linked = (await link(api, policy["id"], document_id)).json()
    await api.delete(f"/api/v1/policies/{policy['id']}/documents/{document_id}")
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows][-3:] == [
        "policy.created",
        "policy.document.linked",
        "policy.document.unlinked",
    ]
    for row in rows[-2:]:
        assert (row["aggregate_type"], str(row["aggregate_id"])) == ("policy", policy["id"])
        assert event_data(row) == linked


async def test_refused_link_changes_record_nothing(api, db):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    await link(api, policy["id"], document_id)
    before = await outbox_rows(db)
    await link(api, policy["id"], document_id)
    await link(api, MISSING, document_id)
    await api.delete(f"/api/v1/policies/{policy['id']}/documents/{uuid.uuid4()}")
    assert await outbox_rows(db) == before


# --- with CRM_DOCUMENTS_BASE_URL: the document must exist in Documents --------------------------------------


async def test_known_document_is_linked_after_asking_documents(api, checked, stub):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    stub.add(document_id)
    response = await link(checked, policy["id"], document_id)
    assert response.status_code == 201, response.text
    assert response.json()["document_id"] == str(document_id)
    assert stub.requests == [f"/api/v1/documents/{document_id}"]


async def test_unknown_document_is_404_document_not_found(api, checked, stub, db):
    policy = await make_policy(api)
    before = await outbox_rows(db)
    response = await link(checked, policy["id"], uuid.uuid4())
    assert_problem(response, 404, "document_not_found", "document_id")
    assert await db.fetchval("SELECT count(*) FROM crm.policy_documents") == 0
    assert await outbox_rows(db) == before


@pytest.mark.parametrize("status", [500, 502, 503, 401, 429])
async def test_documents_failing_is_503(api, checked, stub, status):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    stub.add(document_id)
    stub.fail_with = status
    response = await link(checked, policy["id"], document_id)
    assert_problem(response, 503, "documents_unavailable")
    stub.fail_with = None
    assert (await link(checked, policy["id"], document_id)).status_code == 201


async def test_documents_answering_too_slowly_is_503(api, checked, stub):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    stub.add(document_id)
    stub.delay = 1.5  # the app's timeout is 0.5 s
    assert_problem(await link(checked, policy["id"], document_id), 503, "documents_unavailable")


async def test_documents_stopped_is_503(api, settings, db):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    server = DocumentsStub().start()
    server.add(document_id)
    try:
        async with documents_api(settings, server.base_url) as client:
            assert (await link(client, policy["id"], document_id)).status_code == 201
            server.stop()
            response = await link(client, policy["id"], uuid.uuid4())
            assert_problem(response, 503, "documents_unavailable")
    finally:
        server.stop()


async def test_documents_on_a_closed_port_is_503(api, settings, db):
    policy = await make_policy(api)
    async with documents_api(settings, f"http://127.0.0.1:{free_port()}") as client:
        assert_problem(await link(client, policy["id"], uuid.uuid4()), 503, "documents_unavailable")
        # Unlinking and listing never ask Documents.
        assert (await client.get(f"/api/v1/policies/{policy['id']}/documents")).status_code == 200
        response = await client.delete(f"/api/v1/policies/{policy['id']}/documents/{uuid.uuid4()}")
        assert_problem(response, 404, "document_not_linked")


async def test_unknown_policy_is_404_without_asking_documents(checked, stub):
    assert_problem(await link(checked, MISSING, uuid.uuid4()), 404, "policy_not_found")
    assert stub.requests == []


async def test_duplicate_of_a_known_document_is_409(api, checked, stub):
    policy = await make_policy(api)
    document_id = uuid.uuid4()
    stub.add(document_id)
    assert (await link(checked, policy["id"], document_id)).status_code == 201
    assert_problem(await link(checked, policy["id"], document_id), 409, "document_already_linked")
