"""The kinds of caller the access tests distinguish, and how each one calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# The role each kind of caller's token carries; where they stand is up to each test's world.
TOKEN_ROLE = {
    "admin": "ROLE_ADMIN",
    "manager": "ROLE_MANAGER",
    "owner": "ROLE_SELLER",
    "stranger": "ROLE_SELLER",
    "executor_on": "ROLE_EXECUTOR",
    "executor_off": "ROLE_EXECUTOR",
}
ROLES = tuple(TOKEN_ROLE)


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    kind: str


def as_user(user: User) -> dict[str, str]:
    return {"X-User-Id": str(user.id), "X-User-Roles": TOKEN_ROLE[user.kind]}
