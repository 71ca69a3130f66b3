"""What the pipelines module needs from storage.

Every change of a pipeline or of its stages locks the pipeline's row first (``get_for_update``); every deal that
takes a stage holds the pipeline's row shared until it commits (``lock_for_deals``). So a stage is never removed
under a deal moving into it, and a deal never lands in a pipeline or a stage being removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from crm.domain.pagination import Page
from crm.domain.pipelines.schemas import Pipeline, PipelineFilter, Stage
from crm.domain.records import RecordRepository


class PipelineRepository(RecordRepository[Pipeline], Protocol):
    async def lock_for_deals(self, pipeline_id: UUID | None) -> Pipeline | None:
        """The live pipeline (the default one for ``None``) with its live stages, held shared until the transaction
        ends: its stages stay as read. ``None`` if there is no such pipeline."""

    async def stage_of_any(self, stage_id: UUID) -> Stage | None:
        """A stage, live or removed (a deal's stage in a pipeline it is leaving)."""

    async def removed_stage(self, pipeline_id: UUID, stage_id: UUID) -> Stage | None:
        """A removed stage of the pipeline."""

    async def add_stages(self, pipeline_id: UUID, stages: Sequence[Mapping[str, Any]]) -> list[Stage]:
        """Append stages (column -> value, without ``id`` and ``position``) to the pipeline's order."""

    async def update_stage(self, stage_id: UUID, changes: Mapping[str, Any]) -> Stage: ...

    async def remove_stage(self, stage_id: UUID) -> None:
        """Remove the stage (kept for the history that names it); the others close the gap in the order."""

    async def restore_stage(self, stage_id: UUID) -> Stage:
        """Put a removed stage back, last in the order."""

    async def reorder(self, pipeline_id: UUID, stage_ids: Sequence[UUID]) -> None:
        """Give the pipeline's live stages the positions of ``stage_ids`` (all of them, each once)."""

    async def touch(self, pipeline_id: UUID, actor_id: UUID | None) -> Pipeline:
        """Bump the version of a pipeline whose stages changed; the pipeline as it is now."""

    async def count_live_deals(self, pipeline_id: UUID, stage_id: UUID | None = None) -> int:
        """Live deals in the pipeline (in one of its stages)."""

    async def drop_default(self, keep: UUID, actor_id: UUID | None) -> Pipeline | None:
        """The live default pipeline other than ``keep``, if any, stops being the default; that pipeline now."""


class PipelineReader(Protocol):
    async def get(self, pipeline_id: UUID) -> Pipeline | None: ...

    async def default(self) -> Pipeline | None: ...

    async def page(self, query: PipelineFilter) -> Page[Pipeline]: ...

    async def stage_keys(self, keys: Sequence[str], pipeline_id: UUID | None) -> set[str]:
        """Which of ``keys`` a live stage of a live pipeline (of ``pipeline_id`` if given) has."""
