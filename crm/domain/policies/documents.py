"""Policy documents: links from a policy to documents kept by the Documents service."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class DocumentLinkCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"document_id": "3d9b8a52-6c1e-4f0a-9d27-7b4e5c6a1f20"}]}
    )

    document_id: UUID


class PolicyDocument(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    policy_id: UUID
    document_id: UUID
    created_at: datetime


class DocumentCatalog(Protocol):
    """Where documents live. ``exists`` raises ``DocumentsUnavailable`` when it cannot tell."""

    async def exists(self, document_id: UUID) -> bool: ...


class AcceptAllDocuments:
    """The catalog when no Documents service is configured: every id is taken on trust."""

    async def exists(self, document_id: UUID) -> bool:
        return True
