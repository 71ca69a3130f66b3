"""A stand-in for the notifications module's intake, for tests of the occasions that hand notifications to it.

It is a fake of our own domain protocol (``crm.domain.notifications.intake.NotificationIntake``), not of a
server: it keeps what it was handed in memory and, like the real intake, refuses a deduplication key it has
seen. What it keeps is what was handed over, committed or not; the tests read the database for what committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

from crm.domain.caller import Caller
from crm.domain.notifications.schemas import NotificationRequest
from crm.domain.uow import UnitOfWork


class RecordingIntake:
    def __init__(self) -> None:
        self.requests: list[NotificationRequest] = []
        self.actors: list[Caller] = []
        self._keys: set[str] = set()

    async def submit_in(self, uow: UnitOfWork, request: NotificationRequest, actor: Caller) -> UUID | None:
        if request.deduplication_key is not None:
            if request.deduplication_key in self._keys:
                return None
            self._keys.add(request.deduplication_key)
        self.requests.append(request)
        self.actors.append(actor)
        return uuid.uuid4()

    async def submit_all_in(
        self, uow: UnitOfWork, requests: Sequence[NotificationRequest], actor: Caller
    ) -> list[UUID | None]:
        return [await self.submit_in(uow, request, actor) for request in requests]

    def of(self, event_key: str) -> list[NotificationRequest]:
        return [request for request in self.requests if request.event_key == event_key]
