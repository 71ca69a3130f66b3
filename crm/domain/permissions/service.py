"""Permission sync use cases: record a job with its event, put it on the BullMQ queue, show its state."""

from __future__ import annotations

from uuid import UUID, uuid4

from crm.domain.access import require_privileged
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import ClientNotFound, DealNotFound, FieldProblem, NotFound, PolicyNotFound
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.permissions.errors import PermissionSyncJobNotFound, QueueUnavailable
from crm.domain.permissions.repository import PermissionQueue, PermissionSyncReader
from crm.domain.permissions.schemas import (
    OwnerType,
    PermissionSyncAccepted,
    PermissionSyncJob,
    PermissionSyncRequest,
    PermissionSyncStatus,
)
from crm.domain.uow import UnitOfWorkFactory

# The event is about the job (its aggregate is "permissions"), so it stays off the deal stream.
REQUESTED = "permissions.sync.requested"
ERROR_MAX_LENGTH = 1000

_OWNER_NOT_FOUND: dict[OwnerType, type[NotFound]] = {
    OwnerType.CLIENT: ClientNotFound,
    OwnerType.DEAL: DealNotFound,
    OwnerType.POLICY: PolicyNotFound,
}


class PermissionSyncService:
    def __init__(
        self, uow: UnitOfWorkFactory, reader: PermissionSyncReader, queue: PermissionQueue, clock: Clock
    ) -> None:
        self._uow = uow
        self._reader = reader
        self._queue = queue
        self._clock = clock

    async def get(self, job_id: UUID, caller: Caller) -> PermissionSyncJob:
        require_privileged(caller, "follow permission sync")
        job = await self._reader.get(job_id)
        if job is None:
            raise PermissionSyncJobNotFound(f"Permission sync job {job_id} does not exist.")
        return job

    async def request(
        self, data: PermissionSyncRequest, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> PermissionSyncAccepted:
        """Record the job and its event in one transaction, then enqueue it and record the outcome.

        The enqueue happens after the commit, so the job (and its event) exist whatever Redis answers; a job
        Redis refused is kept as ``failed`` and the caller gets a 503 to retry. The answer ("queued") commits
        with the job: should this process stop before the enqueue, crm-worker's permission-jobs queues it.
        """
        require_privileged(caller, "request permission sync")
        # Without any queue configured nothing could ever be delivered: refuse before recording anything.
        self._queue.require_configured()
        async with self._uow(caller, idempotency) as uow:
            if not await uow.permissions.owner_is_live(data.owner_type, data.owner_id):
                raise _OWNER_NOT_FOUND[data.owner_type](
                    f"The {data.owner_type.value} {data.owner_id} does not exist.",
                    errors=[FieldProblem("owner_id", f"no such {data.owner_type.value}")],
                )
            job = await uow.permissions.add(uuid4(), data, caller.actor_id)
            uow.record(self._requested(job, caller))
            accepted = PermissionSyncAccepted(job_id=job.job_id, status=PermissionSyncStatus.QUEUED)
            await uow.commit(accepted)
        try:
            await self._queue.enqueue(job)
        except QueueUnavailable as exc:
            await self._record_failure(job.job_id, exc.detail, caller, idempotency)
            raise QueueUnavailable(
                f"The permission queue did not take the job; job {job.job_id} is recorded as failed. Retry later."
            ) from exc
        async with self._uow(caller) as uow:
            await uow.permissions.mark_queued(job.job_id)
            await uow.commit()
        return accepted

    async def _record_failure(
        self, job_id: UUID, error: str, caller: Caller, idempotency: IdempotentRequest | None
    ) -> None:
        async with self._uow(caller) as uow:
            await uow.permissions.mark_failed(job_id, error[:ERROR_MAX_LENGTH])
            # The 503 is not an answer worth replaying: a retry with the same Idempotency-Key makes a new job
            # instead of being told, until the key expires, that the job was queued.
            if idempotency is not None:
                await uow.permissions.forget_idempotency_key(idempotency)
            await uow.commit()

    def _requested(self, job: PermissionSyncJob, caller: Caller) -> DomainEvent:
        served = job.model_dump(mode="json")
        return DomainEvent(
            routing_key=REQUESTED,
            aggregate_id=job.job_id,
            data={
                "job_id": served["job_id"],
                "owner_type": served["owner_type"],
                "owner_id": served["owner_id"],
                "users": served["users"],
                "requested_by": None if caller.actor_id is None else str(caller.actor_id),
            },
            occurred_at=self._clock.now(),
        )
