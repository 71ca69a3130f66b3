"""Permission sync jobs: what a caller asks for, and what the service records and serves back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# One sync replaces the access list of one record; a list this long is a mistake, not a team.
MAX_USERS = 1000


class OwnerType(StrEnum):
    """The CRM records whose access Auth keeps; the owner must be a live record of this service."""

    CLIENT = "client"
    DEAL = "deal"
    POLICY = "policy"


class PermissionRole(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"


class PermissionSyncStatus(StrEnum):
    """``pending`` until the enqueue is answered; then ``queued`` or ``failed`` (Redis did not take it)."""

    PENDING = "pending"
    QUEUED = "queued"
    FAILED = "failed"


# The old API took camelCase (`ownerType`, `userId`): both spellings are accepted on input; output is snake_case.
_INPUT = ConfigDict(
    extra="forbid",
    alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_camel(name))),
)


class PermissionUser(BaseModel):
    model_config = ConfigDict(**_INPUT, frozen=True)

    user_id: UUID = Field(description="Also accepted as `userId`.")
    role: PermissionRole


class PermissionSyncRequest(BaseModel):
    """Every field may also be sent in camelCase (`ownerType`, `ownerId`, `userId`)."""

    model_config = ConfigDict(
        **_INPUT,
        json_schema_extra={
            "examples": [
                {
                    "owner_type": "deal",
                    "owner_id": "6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11",
                    "users": [
                        {"user_id": "0b9c7f5e-3f1a-4d2b-9a8e-6c5d4b3a2f10", "role": "editor"},
                        {"user_id": "8d2e6b1a-5c3f-4e7d-8a9b-1c2d3e4f5a60", "role": "viewer"},
                    ],
                }
            ]
        },
    )

    owner_type: OwnerType = Field(description="Also accepted as `ownerType`.")
    owner_id: UUID = Field(description="The client, deal or policy; also accepted as `ownerId`.")
    users: list[PermissionUser] = Field(
        min_length=1, max_length=MAX_USERS, description="Each user once; the full access list of the owner."
    )

    @field_validator("users")
    @classmethod
    def _each_user_once(cls, users: list[PermissionUser]) -> list[PermissionUser]:
        seen: set[UUID] = set()
        for user in users:
            if user.user_id in seen:
                raise ValueError(f"user_id {user.user_id} is listed more than once")
            seen.add(user.user_id)
        return users


class PermissionSyncJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: UUID = Field(description="Also the BullMQ job id.")
    owner_type: OwnerType
    owner_id: UUID
    users: list[PermissionUser]
    status: PermissionSyncStatus
    error: str | None = Field(description="Why the job could not be queued; null unless `failed`.")
    created_at: datetime
    updated_at: datetime


class PermissionSyncAccepted(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"job_id": "3a7c9e1f-2b4d-4f6a-8c0e-1d3f5a7b9c2e", "status": "queued"}]},
    )

    job_id: UUID
    status: PermissionSyncStatus
