"""Forgetting what is old: finished notifications and journaled inbound events, in batches committed one by one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory

BATCH = 5000


async def prune(
    uow: UnitOfWorkFactory,
    clock: Clock,
    retention: timedelta,
    delete: Callable[[UnitOfWork, datetime, int], Awaitable[int]],
    *,
    limit: int = BATCH,
) -> int:
    """``delete`` what is older than ``retention``, ``limit`` rows a transaction, until less is left; how many."""
    before = clock.now() - retention
    deleted = 0
    while True:
        async with uow(SYSTEM) as work:
            count = await delete(work, before, limit)
            await work.commit()
        deleted += count
        if count < limit:
            return deleted


async def finished_notifications(work: UnitOfWork, before: datetime, limit: int) -> int:
    return await work.notifications.prune_finished(before, limit)


async def inbound_events(work: UnitOfWork, before: datetime, limit: int) -> int:
    return await work.inbound_events.prune(before, limit)
