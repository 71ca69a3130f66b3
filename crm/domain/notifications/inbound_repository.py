"""The journal of inbound events: what was received, once per CloudEvent ``id``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

# Bounds of what the journal keeps; a CloudEvent beyond them is malformed, never a database error.
# An id becomes the notification's deduplication key `inbound:<id>` (at most 255 characters).
MAX_ID_LENGTH = 200
MAX_SOURCE_LENGTH = 1024
MAX_SUBJECT_LENGTH = 1024


class Transport(StrEnum):
    AMQP = "amqp"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """A CloudEvent 1.0 as received: its context attributes, its ``data`` (a JSON object) and how it came."""

    id: str
    source: str
    type: str
    transport: Transport
    time: datetime | None = None
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class InboundEventRepository(Protocol):
    async def record_new(self, events: Sequence[InboundEvent]) -> set[str]:
        """Journal ``events``; the ids of those journaled now. An id journaled before (by an earlier call or a
        concurrent one) is left as it was and not returned."""
        ...

    async def prune(self, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` events received before ``before``; how many. A forgotten id is new again."""
        ...
