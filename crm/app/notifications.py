"""Wiring of notification delivery for crm-worker (its channels) and of the notifications stream for crm-api."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from crm.app.config import Settings
from crm.app.events import redis_client
from crm.domain.clock import Clock
from crm.domain.notifications.delivery import DeliveryChannel, RetryPolicy
from crm.domain.notifications.records import DueDelivery, SendOutcome
from crm.domain.notifications.schemas import Channel
from crm.infrastructure.notification_stream import RedisStreamChannel
from crm.infrastructure.telegram import TelegramChannel, telegram_http_client

NO_REDIS = "no Redis configured for the notifications stream (CRM_REDIS_URL)"


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.notifications_max_attempts,
        base_seconds=settings.notifications_retry_base_seconds,
        max_seconds=settings.notifications_retry_max_seconds,
        lease=timedelta(seconds=settings.notifications_lease_seconds),
    )


class _Unavailable:
    def __init__(self, reason: str) -> None:
        self._reason = reason

    async def send(self, delivery: DueDelivery) -> SendOutcome:
        return SendOutcome.failed(self._reason)


class _LazyTelegram:
    """The Telegram channel, its HTTP client made on the first message of a run (most runs send none)."""

    def __init__(self, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
        self._settings = settings
        self._stack = stack
        self._channel: TelegramChannel | None = None

    async def send(self, delivery: DueDelivery) -> SendOutcome:
        if self._channel is None:
            settings = self._settings
            client = None
            if settings.notifications_telegram_bot_token is not None and not settings.notifications_telegram_mock:
                client = telegram_http_client(
                    settings.notifications_telegram_api_url, settings.notifications_telegram_timeout
                )
                self._stack.push_async_callback(client.aclose)
            self._channel = TelegramChannel(
                client, settings.notifications_telegram_bot_token, mock=settings.notifications_telegram_mock
            )
        return await self._channel.send(delivery)


@contextlib.asynccontextmanager
async def delivery_channels(settings: Settings, clock: Clock) -> AsyncIterator[Mapping[Channel, DeliveryChannel]]:
    """The channels one delivery run sends through, closed when it ends."""
    async with contextlib.AsyncExitStack() as stack:
        sse: DeliveryChannel = _Unavailable(NO_REDIS)
        if settings.redis_url:
            redis = redis_client(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            sse = RedisStreamChannel(
                redis, settings.notifications_stream_key, settings.notifications_stream_maxlen, clock
            )
        yield {Channel.TELEGRAM: _LazyTelegram(settings, stack), Channel.SSE: sse}
