"""What lead intake needs from storage: the directory, leads, appeals and the operators' loads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.leads.appeals import Appeal, AppealFilter, Assignment, Lead, LeadCreate, LeadFilter
from crm.domain.leads.distribution import Candidate, Plan
from crm.domain.leads.schemas import Operator, OperatorFilter, Source, SourceFilter, SourceWeight
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class OperatorSlots(Protocol):
    """The one place an operator's load changes."""

    async def take(self, operator_id: UUID) -> bool:
        """One more open appeal for the operator if they are live, active and under ``max_load``; ``False``
        (nothing changed) otherwise. Holds their row until the transaction ends."""

    async def take_many(self, operator_id: UUID, count: int) -> None:
        """``count`` more open appeals for an operator whose row this transaction holds (``room``)."""

    async def release(self, operator_id: UUID) -> None:
        """One open appeal fewer."""

    async def room(self, operator_id: UUID) -> Room | None:
        """The live operator, locked until the transaction ends; ``None`` if there is none."""

    async def lock_in_order(self, operator_ids: Sequence[UUID]) -> dict[UUID, Operator]:
        """The live ones of ``operator_ids``, locked in id order (so two transactions locking the same operators
        cannot deadlock)."""


class OperatorRepository(RecordRepository[Operator], OperatorSlots, Protocol):
    async def lock_live(self, operator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of ``operator_ids`` are live operators, kept so until the transaction ends."""


class SourceRepository(RecordRepository[Source], Protocol):
    async def replace_weights(self, source_id: UUID, weights: Sequence[SourceWeight], actor_id: UUID | None) -> None:
        """Make ``weights`` the source's only weights."""

    async def weights(self, source_id: UUID) -> list[SourceWeight]:
        """The source's weights for live operators, by operator id."""


class OperatorReader(Protocol):
    async def get(self, operator_id: UUID) -> Operator | None: ...

    async def page(self, query: OperatorFilter) -> Page[Operator]: ...


class SourceReader(Protocol):
    async def get(self, source_id: UUID) -> Source | None: ...

    async def page(self, query: SourceFilter) -> Page[Source]: ...

    async def weights(self, source_id: UUID) -> list[SourceWeight] | None:
        """The live source's weights for live operators; ``None`` if there is no such source."""


class LeadChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


@dataclass(frozen=True, slots=True)
class SourceIntake:
    """What distributing a new appeal of a lead on a source reads, in one statement."""

    active: bool
    sticky_operator_id: UUID | None
    """The operator of the lead's latest open appeal on the source, when the source is sticky."""
    candidates: list[Candidate]


@dataclass(frozen=True, slots=True)
class Room:
    """An operator locked for taking appeals from the unassigned queue: the whole presence and load."""

    candidate: Candidate

    @property
    def free(self) -> int:
        return max(0, self.candidate.max_load - self.candidate.load)


class LeadRepository(RecordRepository[Lead], Protocol):
    async def take_in(self, contact: LeadCreate, actor_id: UUID | None) -> tuple[Lead, LeadChange | None]:
        """The live lead of ``contact.external_id``, made if there is none or with its empty contact fields
        filled from ``contact`` (and what happened to it); locked until the transaction ends. Two first contacts
        at once make one lead: the second waits for the first to commit and finds it."""


class AppealRepository(RecordRepository[Appeal], Protocol):
    async def intake(self, source_id: UUID, lead_id: UUID) -> SourceIntake | None:
        """The live source's state for a new appeal of ``lead_id``; ``None`` if there is no such source."""

    async def candidates(self, source_id: UUID) -> list[Candidate]:
        """The source's listed live operators, with their weights and loads."""

    async def insert(
        self, appeal_id: UUID, values: Mapping[str, Any], decision: Plan, actor_id: UUID | None
    ) -> Appeal | None:
        """A new appeal with the decision logged, given to ``decision.operator_id`` in the same statement that takes
        their slot (``OperatorSlots.take``'s rule) — ``None``, nothing written, when the slot cannot be taken — or
        to nobody."""

    async def assign(
        self, appeal_id: UUID, decision: Plan, previous: UUID | None, actor_id: UUID | None, at: datetime
    ) -> Appeal:
        """Give the appeal to ``decision.operator_id`` (or none), logging the decision; the first action on it."""

    async def pull_backlog(self, room: Room, limit: int, actor_id: UUID | None, at: datetime) -> list[Appeal]:
        """Give the oldest unassigned open appeals of the sources where the operator has a weight above 0 to them,
        at most ``limit``, skipping appeals another transaction holds and those they handed away; each decision
        logged."""

    async def close(
        self, appeal_id: UUID, resolution: str | None, deal_id: UUID | None, actor_id: UUID | None, at: datetime
    ) -> Appeal:
        """Close the open appeal (converted: into ``deal_id``); the first action on it if none came before."""

    async def assignments(self, appeal_id: UUID) -> list[Assignment]:
        """Every decision about the appeal's operator, oldest first."""


class LeadReader(Protocol):
    async def get(self, lead_id: UUID, access: Access) -> Lead | None: ...

    async def page(self, query: LeadFilter, access: Access) -> Page[Lead]: ...


class AppealReader(Protocol):
    async def get(self, appeal_id: UUID, access: Access) -> Appeal | None: ...

    async def page(self, query: AppealFilter, access: Access) -> Page[Appeal]: ...

    async def assignments(self, appeal_id: UUID, access: Access) -> list[Assignment]:
        """The appeal's decisions oldest first; none if ``access`` does not see the appeal."""

    async def operators_with_room_for_backlog(self) -> list[UUID]:
        """Live active operators under ``max_load`` with a weight above 0 on a source with unassigned open
        appeals, least loaded first (presence is checked when each is locked)."""
