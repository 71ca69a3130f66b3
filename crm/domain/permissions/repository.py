"""What the permission sync needs from storage and from the queue Auth reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol
from uuid import UUID

from crm.domain.idempotency import IdempotentRequest
from crm.domain.permissions.schemas import OwnerType, PermissionSyncJob, PermissionSyncRequest


class PermissionSyncRepository(Protocol):
    async def owner_is_live(self, owner_type: OwnerType, owner_id: UUID) -> bool:
        """Whether the client, deal or policy exists and is not deleted (locking it against a delete)."""

    async def add(
        self, job_id: UUID, request: PermissionSyncRequest, requested_by_id: UUID | None
    ) -> PermissionSyncJob:
        """Insert the job as ``pending``."""

    async def lock_stranded(self, pending_for: timedelta, limit: int) -> list[PermissionSyncJob]:
        """Up to ``limit`` jobs still ``pending`` ``pending_for`` after they were recorded, oldest first, locked
        until the transaction ends; jobs another transaction holds are skipped."""

    async def count_stranded(self, pending_for: timedelta) -> int:
        """How many jobs are still ``pending`` ``pending_for`` after they were recorded."""

    async def newer_job_of_owner(self, job: PermissionSyncJob) -> UUID | None:
        """A job for the same owner recorded after ``job``, if any: it carries a newer access list."""

    async def mark_queued(self, job_id: UUID) -> None:
        """``pending`` → ``queued``."""

    async def mark_failed(self, job_id: UUID, error: str) -> None:
        """``pending`` → ``failed`` with the reason."""

    async def forget_idempotency_key(self, request: IdempotentRequest) -> None:
        """Forget the request's Idempotency-Key and its answer, so a retry of a refused request runs again."""


class PermissionSyncReader(Protocol):
    async def get(self, job_id: UUID) -> PermissionSyncJob | None: ...


class PermissionQueue(Protocol):
    """The BullMQ queue the Auth side consumes."""

    def require_configured(self) -> None:
        """Raise ``QueueUnavailable`` when no queue is configured at all, before anything is recorded."""

    async def enqueue(self, job: PermissionSyncJob) -> None:
        """Put the job on the queue, its id as the BullMQ job id (so a repeat is a no-op); within a bounded
        time, else ``QueueUnavailable`` whose detail says what went wrong."""
