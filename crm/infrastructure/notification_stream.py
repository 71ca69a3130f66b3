"""The notifications stream in Redis: the sse channel adds one entry per delivery (``XADD``, trimmed to about
``maxlen`` entries); every crm-api process reads it (``XREAD BLOCK``), so a stream is served from any process and
resumes from any entry id."""

from __future__ import annotations

import json
import re
from typing import Any, cast
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from crm.domain.clock import Clock
from crm.domain.errors import FieldProblem, NotificationStreamUnavailable
from crm.domain.notifications.records import DueDelivery, SendOutcome
from crm.domain.notifications.stream import StreamEntry

FIELD = "data"
_ENTRY_ID = re.compile(r"^[0-9]{1,20}(-[0-9]{1,20})?$")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamChannel:
    """The sse channel: a delivery is delivered once its entry is in the stream."""

    def __init__(self, redis: aioredis.Redis, key: str, maxlen: int, clock: Clock) -> None:
        self._redis = redis
        self._key = key
        self._maxlen = maxlen
        self._clock = clock

    async def send(self, delivery: DueDelivery) -> SendOutcome:
        entry = {
            "notification_id": str(delivery.notification_id),
            "delivery_id": str(delivery.id),
            "event_key": delivery.event_key,
            "user_id": None if delivery.user_id is None else str(delivery.user_id),
            "staff": delivery.user_id is None,
            "text": delivery.text,
            "at": self._clock.now().isoformat(),
        }
        try:
            await self._redis.xadd(
                self._key,
                {FIELD: json.dumps(entry, ensure_ascii=False)},
                maxlen=self._maxlen,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            return SendOutcome.failed(f"redis unavailable ({type(exc).__name__})")
        return SendOutcome.ok()


class RedisNotificationFeed:
    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    async def latest_id(self) -> str:
        try:
            newest = await self._redis.xrevrange(self._key, count=1)
        except (RedisError, OSError) as exc:
            raise _unavailable() from exc
        return _text(newest[0][0]) if newest else "0-0"  # type: ignore[arg-type]

    async def read_after(self, last_id: str, *, block_seconds: float, count: int) -> list[StreamEntry]:
        try:
            answer = await self._redis.xread({self._key: last_id}, count=count, block=max(1, int(block_seconds * 1000)))
        except (RedisError, OSError) as exc:
            raise _unavailable() from exc
        entries = []
        for _, items in cast(list[tuple[Any, list[tuple[Any, dict[Any, Any]]]]], answer or []):
            for entry_id, fields in items:
                raw = fields.get(FIELD.encode()) or fields.get(FIELD)
                if raw is None:
                    continue
                data = json.loads(_text(raw))
                user_id = data.get("user_id")
                entries.append(StreamEntry(_text(entry_id), None if user_id is None else UUID(user_id), data))
        return entries

    def valid_id(self, value: str) -> bool:
        return bool(_ENTRY_ID.match(value))


def _unavailable() -> NotificationStreamUnavailable:
    return NotificationStreamUnavailable(
        "Redis (CRM_REDIS_URL) does not answer; retry in a moment.",
        errors=[FieldProblem("CRM_REDIS_URL", "unreachable")],
    )
