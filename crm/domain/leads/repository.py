"""What the lead-intake directory needs from storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from crm.domain.leads.schemas import Operator, OperatorFilter, Source, SourceFilter, SourceWeight
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class OperatorRepository(RecordRepository[Operator], Protocol):
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
