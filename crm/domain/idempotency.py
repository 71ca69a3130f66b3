"""Idempotency-Key: a retried POST gets the first answer instead of making a second change.

A keyed request's key, the hash of its body and its answer are written in the transaction of the change it
makes: either all of them commit or none does. So a retry either finds the answer, or finds nothing and runs
again; there is no state in between (a committed change whose answer was lost) to get stuck in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer as it is replayed: status, the headers worth repeating, and the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One POST made with an ``Idempotency-Key``, handed by the route to its use case's unit of work.

    ``answer`` turns the use case's result into the answer the route gives for it; the unit of work stores
    that answer under ``(scope, key)`` when it commits.
    """

    scope: str
    key: str
    request_hash: str
    answer: Callable[[Any], StoredAnswer]


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What an earlier request with the same key left: its body's hash and its answer (``None`` only for
    a request recorded before answers were stored with their change)."""

    request_hash: str
    answer: StoredAnswer | None


class IdempotencyStore(Protocol):
    async def find(self, scope: str, key: str) -> StoredRequest | None:
        """The committed request with this key, if it has not expired; a request still running is not seen."""
