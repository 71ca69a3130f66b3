"""Fields every stored record shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

R_co = TypeVar("R_co", bound="Record", covariant=True)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: UUID | None = None
    updated_by_id: UUID | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by_id: UUID | None = None

    def derived_state(self) -> str | None:
        """What of the record is derived on read, not stored (so not covered by its version); ``None`` when
        nothing is. It is part of the record's ETag, so a cached copy goes stale when it changes."""
        return None


class RecordRepository(Protocol[R_co]):
    """The writes every record's repository has, inside a unit of work, for its caller (``crm.domain.access``);
    a row read here stays locked until the transaction ends. Modules add their own
    (``PolicyRepository(RecordRepository[Policy], Protocol)``)."""

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> R_co:
        """Insert a record made by ``actor_id``; ``values`` holds its columns."""

    async def get_for_update(self, record_id: UUID) -> R_co | None:
        """The record, live or deleted, locked against concurrent changes; ``None`` if the unit of work's caller
        may not see it, ``Forbidden`` if they may not change it."""

    async def lock_live_for_share(self, record_id: UUID) -> bool:
        """True if the record exists, is not deleted and the caller sees it; it stays so until the transaction
        ends."""

    async def reach(self, record_id: UUID, *, change: bool) -> bool:
        """Whether the caller sees the record; with ``change``, ``Forbidden`` unless they may change it."""

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> R_co:
        """Set the changed columns, bumping the version."""

    async def set_deleted(self, record_id: UUID, deleted: bool, actor_id: UUID | None) -> R_co:
        """Soft-delete (or restore) the record, bumping the version."""
