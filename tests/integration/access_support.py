"""The kinds of caller the access tests distinguish, and how each one calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.auth import bearer

# The role each kind of caller's token carries; where they stand is up to each test's world.
TOKEN_ROLE = {
    "admin": "ROLE_ADMIN",
    "manager": "ROLE_MANAGER",
    "owner": "ROLE_SELLER",
    "stranger": "ROLE_SELLER",
    "executor_on": "ROLE_EXECUTOR",
    "executor_off": "ROLE_EXECUTOR",
    "anonymous": "",
}
ROLES = tuple(TOKEN_ROLE)


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    kind: str


def as_user(user: User) -> dict[str, str]:
    """The caller's token; an anonymous caller sends none (it replaces the test client's admin token)."""
    if user.kind == "anonymous":
        return {"Authorization": ""}
    return bearer(user.id, TOKEN_ROLE[user.kind])
