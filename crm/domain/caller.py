"""Who is asking: the actor recorded on what they change, and the roles that decide what they may do."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

ADMIN_ROLES = frozenset({"admin", "ROLE_ADMIN"})


@dataclass(frozen=True, slots=True)
class Caller:
    actor_id: UUID | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)


SYSTEM = Caller(roles=frozenset({"admin"}))
