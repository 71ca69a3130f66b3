"""crm-worker's delivery of recorded notifications, one try per due delivery and run.

A run claims due deliveries with a lease, committed before anything is sent: another worker skips them while
the lease lasts, and takes them again once it ran out (the worker holding them died). Each try is sent, then
its attempt and outcome are written in a second short transaction, with the notification's status derived
afresh. A delivered delivery is never claimed again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.notifications.records import (
    OUTCOME_EVENTS,
    DeliveryResult,
    DeliveryStatus,
    DueDelivery,
    SendOutcome,
    outcome_event,
)
from crm.domain.notifications.schemas import Channel
from crm.domain.uow import UnitOfWorkFactory

# A channel asking to slow down (Telegram's 429) says nothing against the message: such tries count towards a
# budget this many times larger than CRM_NOTIFICATIONS_MAX_ATTEMPTS, so a burst of reminders waits, not fails.
THROTTLED_ALLOWANCE = 10


class DeliveryChannel(Protocol):
    async def send(self, delivery: DueDelivery) -> SendOutcome:
        """One try; never raises for the channel's own failures (they are the outcome)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float
    lease: timedelta
    jitter: Callable[[], float] = random.random

    @property
    def send_timeout(self) -> float:
        """Seconds one try may take: half the lease, so a try ends (as a failure) well before its claim runs out
        and another worker could take the delivery while it is still being sent."""
        return self.lease.total_seconds() / 2

    def next_try(self, attempts: int, outcome: SendOutcome, now: datetime) -> datetime | None:
        """When to try again after ``attempts`` tries ended in ``outcome``; None: never (out of attempts, or
        refused for good). A wait the channel asked for is honoured (within ``THROTTLED_ALLOWANCE`` times the
        attempts); otherwise exponential backoff with jitter (half to all of ``base * 2**(attempts-1)``, at most
        ``max_seconds``)."""
        if outcome.permanent:
            return None
        if outcome.retry_after is not None and attempts < self.max_attempts * THROTTLED_ALLOWANCE:
            return now + timedelta(seconds=outcome.retry_after)
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1))
        return now + timedelta(seconds=ceiling * (0.5 + self.jitter() / 2))


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    late: int = 0  # tries whose lease had run out by the time they ended: another claim's result counts instead


class NotificationDelivery:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        channels: Mapping[Channel, DeliveryChannel],
        clock: Clock,
        policy: RetryPolicy,
    ) -> None:
        self._uow = uow
        self._channels = channels
        self._clock = clock
        self._policy = policy

    async def claim(self, limit: int) -> list[DueDelivery]:
        """Due deliveries, leased to this run (committed: others skip them while the lease lasts)."""
        now = self._clock.now()
        async with self._uow(SYSTEM) as uow:
            due = await uow.notifications.claim_due(now, now + self._policy.lease, limit)
            await uow.notifications.settle(sorted({d.notification_id for d in due}))
            await uow.commit()
        return due

    async def deliver(self, batch_size: int, *, budget: float) -> DeliveryRun:
        """Batches of due deliveries, one try each, until none is due or ``budget`` seconds have passed."""
        run = DeliveryRun()
        loop = asyncio.get_running_loop()
        ends = loop.time() + budget
        while loop.time() < ends:
            due = await self.claim(batch_size)
            if not due:
                break
            outcomes = await asyncio.gather(*(self._send(delivery) for delivery in due))
            results = await self.record(list(zip(due, outcomes, strict=True)))
            run = DeliveryRun(
                claimed=run.claimed + len(due),
                late=run.late + len(due) - len(results),
                delivered=run.delivered + sum(r.status is DeliveryStatus.DELIVERED for r in results),
                retrying=run.retrying + sum(r.status is DeliveryStatus.PENDING for r in results),
                failed=run.failed + sum(r.status is DeliveryStatus.FAILED for r in results),
            )
            if len(due) < batch_size:
                break
        return run

    async def _send(self, delivery: DueDelivery) -> SendOutcome:
        channel = self._channels.get(delivery.channel)
        if channel is None:
            return SendOutcome.failed(f"no {delivery.channel} channel in this worker")
        try:
            async with asyncio.timeout(self._policy.send_timeout):
                return await channel.send(delivery)
        except TimeoutError:
            return SendOutcome.failed(f"no answer within {self._policy.send_timeout:g} s")
        except Exception as exc:  # a channel bug must not strand the batch: the try failed
            return SendOutcome.failed(f"{type(exc).__name__}")

    async def record(self, tries: list[tuple[DueDelivery, SendOutcome]]) -> list[DeliveryResult]:
        """The attempts and outcomes of one batch, in one transaction; events for the notifications that reached
        ``delivered`` or ``failed``. The results written: not those of deliveries claimed again since."""
        now = self._clock.now()
        results = []
        for delivery, outcome in tries:
            attempts = delivery.attempts + 1
            if outcome.delivered:
                status, next_at = DeliveryStatus.DELIVERED, None
            else:
                next_at = self._policy.next_try(attempts, outcome, now)
                status = DeliveryStatus.PENDING if next_at is not None else DeliveryStatus.FAILED
            results.append(DeliveryResult(delivery, outcome, now, status, next_at))
        async with self._uow(SYSTEM) as uow:
            recorded = await uow.notifications.record_results(results)
            results = [result for result in results if result.delivery.id in recorded]
            for change in await uow.notifications.settle(sorted({r.delivery.notification_id for r in results})):
                if change.new in OUTCOME_EVENTS:
                    uow.record(outcome_event(await uow.notifications.load(change.notification_id), now))
            await uow.commit()
        return results
