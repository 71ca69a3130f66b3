"""Who is asking, and what travels with their request into the unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from crm.domain.idempotency import IdempotencyClaim

ADMIN_ROLES = frozenset({"admin", "ROLE_ADMIN"})


@dataclass(frozen=True, slots=True)
class Caller:
    actor_id: UUID | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    trace_id: str | None = None
    idempotency: IdempotencyClaim | None = None

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)


SYSTEM = Caller(roles=frozenset({"admin"}))
