"""Stranded permission sync jobs: recorded ``pending`` but never put on the queue, because crm-api stopped
between the commit and the enqueue. crm-worker enqueues them on a timer.

Each run locks a batch with ``SKIP LOCKED``, enqueues each job and marks it ``queued`` before it commits, so
overlapping runs never take the same job. Enqueueing twice would do no harm anyway: the BullMQ job id is the
sync job id, and BullMQ ignores an add whose job id it already holds (JOB_OPTIONS keeps finished jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from crm.domain.caller import SYSTEM
from crm.domain.permissions.errors import QueueUnavailable
from crm.domain.permissions.repository import PermissionQueue
from crm.domain.uow import UnitOfWorkFactory

# Well past the time a live request takes from its commit to its enqueue (bounded by the queue timeout, at
# most 30 s), so a run does not take a job its request is about to enqueue. Racing one would only enqueue
# the same job id twice, which BullMQ dedupes.
GRACE_PERIOD = timedelta(seconds=60)
BATCH_SIZE = 100


@dataclass(frozen=True, slots=True)
class StrandedJobsRun:
    queued: int
    superseded: int  # marked failed instead: a newer job of the same owner exists
    waiting: int  # stranded jobs still pending after the queue refused one; they are retried next run
    error: str | None  # why the queue refused, when it did


class StrandedPermissionJobs:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        queue: PermissionQueue,
        *,
        grace_period: timedelta = GRACE_PERIOD,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._uow = uow
        self._queue = queue
        self._grace_period = grace_period
        self._batch_size = batch_size

    async def requeue(self) -> StrandedJobsRun:
        """Enqueue every job pending longer than the grace period, oldest first, and mark it ``queued``.

        When the queue refuses one, the run stops: that job and the rest stay ``pending`` (not ``failed``,
        nobody is waiting for an answer) for the next run, and the run reports how many wait.
        """
        queued = superseded = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                stranded = await uow.permissions.lock_stranded(self._grace_period, self._batch_size)
                for job in stranded:
                    newer = await uow.permissions.newer_job_of_owner(job)
                    if newer is not None:
                        # Each job carries the owner's whole access list: enqueued now, this older one would
                        # undo the newer sync on the Auth side.
                        await uow.permissions.mark_failed(job.job_id, f"superseded by the newer sync job {newer}")
                        superseded += 1
                        continue
                    try:
                        await self._queue.enqueue(job)
                    except QueueUnavailable as exc:
                        waiting = await uow.permissions.count_stranded(self._grace_period)
                        await uow.commit()  # the jobs enqueued before the refusal stay queued
                        return StrandedJobsRun(queued, superseded, waiting=waiting, error=exc.detail)
                    await uow.permissions.mark_queued(job.job_id)
                    queued += 1
                await uow.commit()
            if len(stranded) < self._batch_size:
                return StrandedJobsRun(queued, superseded, waiting=0, error=None)
