"""Permission sync API: a job recorded with its event, then put on a real BullMQ queue in Redis for Auth."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from bullmq import Queue, Worker
from pydantic import ValidationError

from crm.app.config import Settings
from crm.domain.permissions.schemas import (
    OwnerType,
    PermissionRole,
    PermissionSyncJob,
    PermissionSyncStatus,
    PermissionUser,
)
from crm.infrastructure.permissions_queue import BullMqPermissionQueue
from tests.apps import running_app
from tests.auth import bearer
from tests.bullmq_queues import CLOSED_PORT_URL, PREFIX, bullmq_queue_of
from tests.factories import assert_problem, make_client, make_deal, make_policy
from tests.outbox import event_data, outbox_rows, routing_keys
from tests.values import MISSING

SYNC = "/api/v1/permissions/sync"
JOB_NAME = "permissions.sync"


def job_url(job_id: str) -> str:
    return f"{SYNC}/{job_id}"


def users(*roles: str) -> list[dict[str, str]]:
    return [{"user_id": str(uuid.uuid4()), "role": role} for role in roles]


async def jobs(db):
    return [dict(r) for r in await db.fetch("SELECT * FROM crm.permission_sync_jobs ORDER BY created_at")]


@pytest.fixture(scope="module")
def queue_name(run_id: str) -> str:
    return f"permissions-sync-{run_id}"


@pytest.fixture(scope="module")
async def bullmq_queue(cache_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """The queue as the Auth side sees it; every key of this run's queue is deleted at the end."""
    async with bullmq_queue_of(cache_url, queue_name, PREFIX) as queue:
        yield queue


@pytest.fixture(scope="module")
async def queued_api_client(settings: Settings, cache_url: str, queue_name: str, bullmq_queue: Queue):
    # CRM_PERMISSIONS_REDIS_URL only: the rest of the app (SSE fan-out) stays without Redis.
    update = {"redis_url": None, "permissions_redis_url": cache_url, "permissions_queue_name": queue_name}
    async with running_app(settings.model_copy(update=update)) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def unreachable_api_client(settings: Settings):
    update = {"redis_url": None, "permissions_redis_url": CLOSED_PORT_URL}
    async with running_app(settings.model_copy(update=update)) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def silent_redis_url() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: only the timeout ends the wait."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(1024):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    server.close()


@pytest.fixture(scope="module")
async def silent_api_client(settings: Settings, silent_redis_url: str):
    update = {"redis_url": None, "permissions_redis_url": silent_redis_url, "permissions_queue_timeout": 0.5}
    async with running_app(settings.model_copy(update=update)) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def unconfigured_api_client(settings: Settings):
    update = {"redis_url": None, "permissions_redis_url": None}
    async with running_app(settings.model_copy(update=update)) as (_, client):
        yield client


# Asking for `db` empties the tables before each test, as the shared `api` fixture does.
@pytest.fixture
def queued_api(queued_api_client, db):
    return queued_api_client


@pytest.fixture
def unreachable_api(unreachable_api_client, db):
    return unreachable_api_client


# --- Accepted and queued ----------------------------------------------------------------------------------


async def test_a_sync_is_queued_on_bullmq_with_the_job_id(queued_api, bullmq_queue):
    deal = await make_deal(queued_api)
    editor, viewer = users("editor", "viewer")
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": [editor, viewer]}
    response = await queued_api.post(SYNC, json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"job_id", "status"}
    assert accepted["status"] == "queued"

    job = await bullmq_queue.getJob(accepted["job_id"])
    assert job is not None
    assert job.id == accepted["job_id"]
    assert job.name == JOB_NAME
    assert job.data == {
        "ownerType": "deal",
        "ownerId": deal["id"],
        "users": [
            {"userId": editor["user_id"], "role": "editor"},
            {"userId": viewer["user_id"], "role": "viewer"},
        ],
    }
    assert job.opts["attempts"] == 5
    assert job.opts["backoff"] == {"type": "exponential", "delay": 1000}


async def test_the_queued_job_is_shown_with_its_state(queued_api):
    client = await make_client(queued_api)
    grants = users("viewer")
    accepted = (
        await queued_api.post(SYNC, json={"owner_type": "client", "owner_id": client["id"], "users": grants})
    ).json()
    response = await queued_api.get(job_url(accepted["job_id"]))
    assert response.status_code == 200
    job = response.json()
    assert set(job) == {"job_id", "owner_type", "owner_id", "users", "status", "error", "created_at", "updated_at"}
    assert (job["job_id"], job["owner_type"], job["owner_id"]) == (accepted["job_id"], "client", client["id"])
    assert job["users"] == grants
    assert (job["status"], job["error"]) == ("queued", None)
    assert job["updated_at"] >= job["created_at"]


async def test_a_standard_bullmq_worker_consumes_the_job(queued_api, cache_url, queue_name):
    policy = await make_policy(queued_api)
    grants = users("editor")
    accepted = (
        await queued_api.post(SYNC, json={"owner_type": "policy", "owner_id": policy["id"], "users": grants})
    ).json()
    seen: asyncio.Queue = asyncio.Queue()

    async def apply(job, token):
        if job.id == accepted["job_id"]:
            await seen.put((job.name, job.data))
        return "applied"

    worker = Worker(queue_name, apply, {"prefix": PREFIX, "connection": cache_url})
    try:
        name, data = await asyncio.wait_for(seen.get(), timeout=10)
    finally:
        await worker.close()
    assert name == JOB_NAME
    assert data == {
        "ownerType": "policy",
        "ownerId": policy["id"],
        "users": [{"userId": grants[0]["user_id"], "role": "editor"}],
    }


async def test_camel_case_input_is_accepted(queued_api, bullmq_queue):
    deal = await make_deal(queued_api)
    user_id = str(uuid.uuid4())
    body = {"ownerType": "deal", "ownerId": deal["id"], "users": [{"userId": user_id, "role": "editor"}]}
    response = await queued_api.post(SYNC, json=body)
    assert response.status_code == 202, response.text
    job = (await queued_api.get(job_url(response.json()["job_id"]))).json()
    assert (job["owner_type"], job["owner_id"]) == ("deal", deal["id"])
    assert job["users"] == [{"user_id": user_id, "role": "editor"}]
    assert (await bullmq_queue.getJob(job["job_id"])).data["users"] == [{"userId": user_id, "role": "editor"}]


async def test_the_request_records_permissions_sync_requested(queued_api, db):
    deal = await make_deal(queued_api)
    author = str(uuid.uuid4())
    grants = users("editor", "viewer")
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": grants}
    accepted = (await queued_api.post(SYNC, json=body, headers=bearer(author, "admin"))).json()
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows] == ["client.created", "deal.created", "permissions.sync.requested"]
    row = rows[-1]
    assert (row["aggregate_type"], str(row["aggregate_id"])) == ("permissions", accepted["job_id"])
    assert event_data(row) == {
        "job_id": accepted["job_id"],
        "owner_type": "deal",
        "owner_id": deal["id"],
        "users": grants,
        "requested_by": author,
    }
    stored = (await jobs(db))[0]
    assert str(stored["requested_by_id"]) == author
    assert stored["queued_at"] is not None


async def test_a_retry_with_the_same_idempotency_key_queues_one_job(queued_api, db, bullmq_queue):
    deal = await make_deal(queued_api)
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": users("viewer")}
    headers = {"Idempotency-Key": "sync-1"}
    first = await queued_api.post(SYNC, json=body, headers=headers)
    again = await queued_api.post(SYNC, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await jobs(db)) == 1
    assert (await routing_keys(db)).count("permissions.sync.requested") == 1


async def test_putting_the_same_job_on_the_queue_twice_keeps_one(bullmq_queue, cache_url, queue_name):
    """The job id is the BullMQ job id, so a repeated enqueue is a no-op for the Auth worker."""
    job = PermissionSyncJob(
        job_id=uuid.uuid4(),
        owner_type=OwnerType.DEAL,
        owner_id=uuid.uuid4(),
        users=[PermissionUser(user_id=uuid.uuid4(), role=PermissionRole.VIEWER)],
        status=PermissionSyncStatus.PENDING,
        error=None,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    queue = BullMqPermissionQueue(cache_url, prefix=PREFIX, queue_name=queue_name, job_name=JOB_NAME, timeout=2)
    try:
        await queue.enqueue(job)
        await queue.enqueue(job)
    finally:
        await queue.close()
    found = await bullmq_queue.getJob(str(job.job_id))
    assert found is not None and found.data["ownerId"] == str(job.owner_id)
    waiting = await bullmq_queue.getJobs(["waiting"])
    assert [j.id for j in waiting].count(str(job.job_id)) == 1


# --- Refused input ----------------------------------------------------------------------------------------


def _one(user: str) -> list[dict[str, str]]:
    return [{"user_id": user, "role": "viewer"}]


# Each case builds a body from a live deal's id and a user id.
INVALID_BODIES = {
    "empty users": (lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": []}, "users"),
    "no users": (lambda owner, user: {"owner_type": "deal", "owner_id": owner}, "users"),
    "users not a list": (lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": {}}, "users"),
    "duplicate user": (
        lambda owner, user: {
            "owner_type": "deal",
            "owner_id": owner,
            "users": [{"user_id": user, "role": "viewer"}, {"userId": user, "role": "editor"}],
        },
        "users",
    ),
    "too many users": (
        lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": users(*["viewer"] * 1001)},
        "users",
    ),
    "bad role": (
        lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": [{"user_id": user, "role": "owner"}]},
        "users.0.role",
    ),
    "no role": (
        lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": [{"user_id": user}]},
        "users.0.role",
    ),
    "bad user id": (
        lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": _one("nope")},
        "users.0.user_id",
    ),
    "bad owner id": (
        lambda owner, user: {"owner_type": "deal", "owner_id": "not-a-uuid", "users": _one(user)},
        "owner_id",
    ),
    "bad camelCase owner id": (
        lambda owner, user: {"ownerType": "deal", "ownerId": "not-a-uuid", "users": _one(user)},
        "ownerId",
    ),
    "unknown owner type": (
        lambda owner, user: {"owner_type": "task", "owner_id": owner, "users": _one(user)},
        "owner_type",
    ),
    "no owner type": (lambda owner, user: {"owner_id": owner, "users": _one(user)}, "owner_type"),
    "unknown field": (
        lambda owner, user: {"owner_type": "deal", "owner_id": owner, "users": _one(user), "priority": 1},
        "priority",
    ),
    "unknown user field": (
        lambda owner, user: {
            "owner_type": "deal",
            "owner_id": owner,
            "users": [{"user_id": user, "role": "viewer", "email": "a@b.example"}],
        },
        "users.0.email",
    ),
}


@pytest.mark.parametrize("case", INVALID_BODIES)
async def test_invalid_input_is_422_naming_the_field_and_records_nothing(queued_api, db, case):
    make_body, field = INVALID_BODIES[case]
    deal = await make_deal(queued_api)
    before = await outbox_rows(db)
    response = await queued_api.post(SYNC, json=make_body(deal["id"], str(uuid.uuid4())))
    assert_problem(response, 422, "validation_error", field)
    assert await jobs(db) == []
    assert await outbox_rows(db) == before


async def test_a_duplicate_user_is_named_in_the_message(queued_api):
    deal = await make_deal(queued_api)
    user_id = str(uuid.uuid4())
    body = {
        "owner_type": "deal",
        "owner_id": deal["id"],
        "users": [{"user_id": user_id, "role": "viewer"}, {"user_id": user_id, "role": "editor"}],
    }
    problem = assert_problem(await queued_api.post(SYNC, json=body), 422, "validation_error", "users")
    assert user_id in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    ("owner_type", "code"), [("client", "client_not_found"), ("deal", "deal_not_found"), ("policy", "policy_not_found")]
)
async def test_an_unknown_owner_is_404_and_records_nothing(queued_api, db, owner_type, code):
    body = {"owner_type": owner_type, "owner_id": MISSING, "users": users("viewer")}
    assert_problem(await queued_api.post(SYNC, json=body), 404, code, "owner_id")
    assert await jobs(db) == []
    assert await outbox_rows(db) == []


async def test_a_deleted_owner_is_404(queued_api):
    deal = await make_deal(queued_api)
    assert (await queued_api.delete(f"/api/v1/deals/{deal['id']}")).status_code == 204
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": users("viewer")}
    assert_problem(await queued_api.post(SYNC, json=body), 404, "deal_not_found")


# --- Redis away or not configured -------------------------------------------------------------------------


async def test_redis_unreachable_is_503_and_the_job_is_recorded_failed(unreachable_api, db):
    deal = await make_deal(unreachable_api)
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": users("editor")}
    problem = assert_problem(await unreachable_api.post(SYNC, json=body), 503, "queue_unavailable")
    [stored] = await jobs(db)
    assert str(stored["id"]) in problem["detail"]
    assert stored["status"] == "failed"
    assert stored["error"] and stored["queued_at"] is None
    shown = (await unreachable_api.get(job_url(str(stored["id"])))).json()
    assert (shown["status"], shown["error"]) == ("failed", stored["error"])
    # The request itself committed: its event says a sync was asked for; the job says how it went.
    assert (await routing_keys(db))[-1] == "permissions.sync.requested"


async def test_a_retry_after_a_503_with_the_same_idempotency_key_tries_again(unreachable_api, db):
    deal = await make_deal(unreachable_api)
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": users("editor")}
    headers = {"Idempotency-Key": "sync-while-redis-is-down"}
    assert_problem(await unreachable_api.post(SYNC, json=body, headers=headers), 503, "queue_unavailable")
    # Not 409 idempotency_key_in_use: the refused request left no answer to replay.
    assert_problem(await unreachable_api.post(SYNC, json=body, headers=headers), 503, "queue_unavailable")
    assert [j["status"] for j in await jobs(db)] == ["failed", "failed"]


async def test_a_redis_that_never_answers_fails_the_job_within_the_timeout(silent_api_client, db):
    deal = await make_deal(silent_api_client)
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": users("viewer")}
    started = time.monotonic()
    response = await silent_api_client.post(SYNC, json=body)
    elapsed = time.monotonic() - started
    assert_problem(response, 503, "queue_unavailable")
    assert elapsed < 3, elapsed
    [stored] = await jobs(db)
    assert stored["status"] == "failed"
    assert "0.5 s" in stored["error"]


async def test_no_redis_configured_is_503_naming_the_setting_and_records_nothing(unconfigured_api_client, db):
    deal = await make_deal(unconfigured_api_client)
    before = await outbox_rows(db)
    body = {"owner_type": "deal", "owner_id": deal["id"], "users": users("viewer")}
    problem = assert_problem(await unconfigured_api_client.post(SYNC, json=body), 503, "queue_unavailable")
    assert "CRM_PERMISSIONS_REDIS_URL" in problem["detail"]
    assert "CRM_REDIS_URL" in problem["detail"]
    assert await jobs(db) == []
    assert await outbox_rows(db) == before


# --- Reading a job ----------------------------------------------------------------------------------------


async def test_an_unknown_job_is_404(queued_api):
    assert_problem(await queued_api.get(job_url(MISSING)), 404, "permission_sync_job_not_found")


async def test_a_malformed_job_id_is_422(queued_api):
    assert_problem(await queued_api.get(job_url("nope")), 422, "validation_error", "job_id")


@pytest.mark.parametrize("method", ["patch", "delete", "put"])
async def test_a_job_cannot_be_changed(queued_api, method):
    assert_problem(await getattr(queued_api, method)(job_url(MISSING)), 405, "method_not_allowed")


# --- Settings ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_redis_in_env(monkeypatch):
    for name in ("CRM_REDIS_URL", "CRM_PERMISSIONS_REDIS_URL", "CRM_PERMISSIONS_QUEUE_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_the_queue_settings_default_to_the_contract(no_redis_in_env):
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.permissions_queue_prefix, settings.permissions_queue_name, settings.permissions_job_name) == (
        "bull",
        "permissions-sync",
        "permissions.sync",
    )
    assert settings.permissions_redis is None


def test_the_permissions_redis_url_falls_back_to_crm_redis_url(no_redis_in_env):
    fallback = Settings(_env_file=None, redis_url="redis://cache:6379/0")  # type: ignore[call-arg]
    assert fallback.permissions_redis == "redis://cache:6379/0"
    own = Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url="redis://cache:6379/0", permissions_redis_url="redis://auth:6379/2"
    )
    assert own.permissions_redis == "redis://auth:6379/2"


@pytest.mark.parametrize("name", ["permissions:sync", "permissions sync", ""])
def test_a_queue_name_bullmq_cannot_use_is_refused_at_start(name):
    with pytest.raises(ValidationError, match="permissions_queue_name"):
        Settings(_env_file=None, permissions_queue_name=name)  # type: ignore[call-arg]
