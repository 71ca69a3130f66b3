"""Idempotency-Key: a retried POST gets the first response instead of making a second change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A keyed request: its row is written in the same transaction as the change it makes."""

    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What an earlier request with the same key left: its body's hash and, once answered, the answer."""

    request_hash: str
    status: int | None
    headers: dict[str, str] | None
    body: bytes | None


class IdempotencyStore(Protocol):
    async def find(self, scope: str, key: str) -> StoredRequest | None: ...

    async def save_response(self, scope: str, key: str, status: int, headers: dict[str, str], body: bytes) -> None: ...
