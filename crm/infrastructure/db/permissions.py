"""Permission sync jobs in PostgreSQL, through asyncpg."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

import asyncpg

from crm.domain.idempotency import IdempotentRequest
from crm.domain.permissions.schemas import OwnerType, PermissionSyncJob, PermissionSyncRequest
from crm.infrastructure.db.idempotency import forget
from crm.infrastructure.db.models import PermissionSyncJobRow
from crm.infrastructure.db.sql import Connection, required
from crm.infrastructure.db.tables import TableSql

JOBS = TableSql(
    PermissionSyncJobRow,
    computed={"job_id": "permission_sync_jobs.id"},
    hidden={"id", "requested_by_id", "queued_at"},
)
SELECT_BY_ID = f"{JOBS.select} WHERE id = $1"
# Only a pending job moves: a job is settled once.
MARK_QUEUED = """
UPDATE crm.permission_sync_jobs SET status = 'queued', queued_at = now(), updated_at = now()
WHERE id = $1 AND status = 'pending'
"""
MARK_FAILED = """
UPDATE crm.permission_sync_jobs SET status = 'failed', error = $2, updated_at = now()
WHERE id = $1 AND status = 'pending'
"""
# Jobs left pending past the grace period: crm-api stopped between the commit and the enqueue. created_at is
# the database's now(), so the age is measured by the same clock. Oldest first; a row another run holds is
# skipped, so each stranded job is taken by one run.
LOCK_STRANDED = f"""
{JOBS.select}
WHERE status = 'pending' AND created_at < now() - $1::interval
ORDER BY created_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
NEWER_OF_OWNER = """
SELECT id FROM crm.permission_sync_jobs
WHERE owner_type = $1 AND owner_id = $2 AND (created_at, id) > ($3, $4)
ORDER BY created_at DESC, id DESC
LIMIT 1
"""
COUNT_STRANDED = """
SELECT count(*) FROM crm.permission_sync_jobs WHERE status = 'pending' AND created_at < now() - $1::interval
"""
# A delete locks the record FOR UPDATE first, so the share lock makes a concurrent delete wait for the job (or
# the job wait and then see the record deleted), as the deal journal does.
OWNER_IS_LIVE = {
    OwnerType.CLIENT: "SELECT true FROM crm.clients WHERE id = $1 AND NOT is_deleted FOR KEY SHARE",
    OwnerType.DEAL: "SELECT true FROM crm.deals WHERE id = $1 AND NOT is_deleted FOR KEY SHARE",
    OwnerType.POLICY: "SELECT true FROM crm.policies WHERE id = $1 AND NOT is_deleted FOR KEY SHARE",
}


def _job(row: asyncpg.Record) -> PermissionSyncJob:
    values = dict(row)
    values["users"] = json.loads(values["users"])
    return PermissionSyncJob.model_validate(values)


class PgPermissionSyncRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def owner_is_live(self, owner_type: OwnerType, owner_id: UUID) -> bool:
        return bool(await self._conn.fetchval(OWNER_IS_LIVE[owner_type], owner_id))

    async def add(
        self, job_id: UUID, request: PermissionSyncRequest, requested_by_id: UUID | None
    ) -> PermissionSyncJob:
        values = {
            "id": job_id,
            "owner_type": request.owner_type.value,
            "owner_id": request.owner_id,
            "users": json.dumps([user.model_dump(mode="json") for user in request.users]),
            "requested_by_id": requested_by_id,
        }
        statement, params = JOBS.insert(values)
        return _job(required(await self._conn.fetchrow(statement, *params)))

    async def lock_stranded(self, pending_for: timedelta, limit: int) -> list[PermissionSyncJob]:
        return [_job(row) for row in await self._conn.fetch(LOCK_STRANDED, pending_for, limit)]

    async def count_stranded(self, pending_for: timedelta) -> int:
        return int(await self._conn.fetchval(COUNT_STRANDED, pending_for))

    async def newer_job_of_owner(self, job: PermissionSyncJob) -> UUID | None:
        newer: UUID | None = await self._conn.fetchval(
            NEWER_OF_OWNER, job.owner_type.value, job.owner_id, job.created_at, job.job_id
        )
        return newer

    async def mark_queued(self, job_id: UUID) -> None:
        await self._conn.execute(MARK_QUEUED, job_id)

    async def mark_failed(self, job_id: UUID, error: str) -> None:
        await self._conn.execute(MARK_FAILED, job_id, error)

    async def forget_idempotency_key(self, request: IdempotentRequest) -> None:
        await forget(self._conn, request)


class PgPermissionSyncReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, job_id: UUID) -> PermissionSyncJob | None:
        row = await self._pool.fetchrow(SELECT_BY_ID, job_id)
        return None if row is None else _job(row)
