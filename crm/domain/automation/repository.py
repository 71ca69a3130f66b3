"""What automation needs from storage: its rules and runs inside a unit of work, the reads outside one, and the
event feed it follows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from crm.domain.automation.schemas import AutomationRule, AutomationRun, Conditions, RuleFilter, RunFilter, RunStatus
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


@dataclass(frozen=True, slots=True)
class Occasion:
    """Something a rule may fire on, once: ``key`` is unique per rule (crm.domain.automation.rules)."""

    key: str
    deal_id: UUID | None
    event_id: UUID | None = None
    cause: tuple[UUID, ...] = ()
    """The rules whose firings led to the occasion (an event's ``x-crm-cause``)."""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event of the stream, in publication order."""

    position: int
    event_id: UUID
    routing_key: str
    aggregate_type: str
    aggregate_id: UUID
    data: Mapping[str, Any]
    cause: tuple[UUID, ...]
    recorded_at: datetime


class FeedLease(Protocol):
    """The event feed, held by one worker at a time."""

    @property
    def position(self) -> int:
        """The last event handled (0: none yet)."""

    async def events(self, limit: int) -> list[FeedEvent]:
        """The next events after ``position``, in order."""

    async def advance(self, position: int) -> None:
        """Record that every event up to ``position`` was handled (committed at once)."""


class EventFeed(Protocol):
    def lease(self) -> AbstractAsyncContextManager[FeedLease | None]:
        """The feed for this worker until the block ends; ``None`` while another worker holds it."""

    async def lag(self) -> tuple[int, int]:
        """(the position handled, the latest position published)."""


class AutomationRepository(RecordRepository[AutomationRule], Protocol):
    async def lock_enabled(self, rule_id: UUID) -> AutomationRule | None:
        """The rule if it is enabled, held (not changed, not disabled) until the transaction ends."""

    async def deal_meets(self, deal_id: UUID, conditions: Conditions) -> bool:
        """Whether the live deal meets ``conditions`` now."""

    async def add_run(
        self,
        rule_id: UUID,
        occasion: Occasion,
        status: RunStatus,
        detail: Mapping[str, Any],
        error: str | None,
        at: datetime,
    ) -> bool:
        """Record the rule's run on ``occasion``; False (nothing recorded) when it has one already. A concurrent
        transaction recording the same one makes this wait for its end."""

    async def set_run(self, rule_id: UUID, key: str, status: RunStatus, detail: Mapping[str, Any]) -> None:
        """Settle the outcome of a run recorded in this transaction."""


class AutomationReader(Protocol):
    async def get(self, rule_id: UUID) -> AutomationRule | None: ...

    async def page(self, query: RuleFilter) -> Page[AutomationRule]: ...

    async def runs(self, rule_id: UUID, query: RunFilter) -> Page[AutomationRun]: ...

    async def event_rules(self) -> list[AutomationRule]:
        """The enabled rules triggered by events."""

    async def time_rules(self) -> list[AutomationRule]:
        """The enabled rules triggered by time."""

    async def due_occasions(self, rule: AutomationRule, now: datetime, limit: int) -> Sequence[Occasion]:
        """The occasions of a time rule due at ``now`` whose deal meets its conditions and that it has not fired
        on yet, oldest first."""
