"""crm-api's inbound events consumer: one per process, started and stopped by the lifespan, connected again with
backoff whenever its connection ends, and reporting what it did (``/api/notifications/health``, ``/readyz``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

from crm.app.config import Settings
from crm.domain.notifications.inbound import InboundEventService
from crm.infrastructure.events.inbound_consumer import (
    InboundConsumer,
    InboundProgress,
    InboundQueues,
    RetryPolicy,
    queue_depths,
)
from crm.infrastructure.events.relay import STOP_GRACE

log = structlog.get_logger(__name__)

RECONNECT_CAP = 5.0  # seconds: the longest pause between two connection attempts
HEALTHY_RUN = 30.0  # seconds connected after which a lost connection starts the backoff afresh


def inbound_queues(settings: Settings) -> InboundQueues:
    return InboundQueues(exchange=settings.notifications_exchange, queue=settings.notifications_queue_name)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_deliveries=settings.notifications_max_deliveries,
        first_delay=settings.notifications_retry_delay,
        max_delay=max(settings.notifications_retry_delay, settings.notifications_retry_max_delay),
    )


class InboundEvents:
    """The consumer's lifecycle. ``stop`` sets an explicit signal, waits at most ``grace`` seconds for the
    consumer to finish what it holds, and only then cancels it."""

    def __init__(self, settings: Settings, service: InboundEventService, *, grace: float = STOP_GRACE) -> None:
        self._settings = settings
        self.service = service
        self._grace = grace
        self._queues = inbound_queues(settings)
        self.progress = InboundProgress(state="disabled")
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self._settings.rabbitmq_url and self._settings.notifications_consumer_enabled)

    async def start(self) -> None:
        if not self.configured:
            log.info("inbound events consumer off: no CRM_RABBITMQ_URL, or CRM_NOTIFICATIONS_CONSUMER_ENABLED=false")
            return
        self._stopping.clear()
        self.progress.state = "connecting"
        self._task = asyncio.create_task(self._keep_consuming(), name="inbound events consumer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping.set()
        if task is None:
            return
        done, _ = await asyncio.wait([task], timeout=self._grace)
        if not done:
            log.error("inbound events consumer did not stop in time; cancelling it", grace=self._grace)
            task.cancel()
            await asyncio.wait([task], timeout=1)
        self.progress.state = "stopped"

    async def _keep_consuming(self) -> None:
        assert self._settings.rabbitmq_url is not None
        failures = 0
        while not self._stopping.is_set():
            consumer = InboundConsumer(
                self._settings.rabbitmq_url,
                self._queues,
                self.service,
                prefetch=self._settings.notifications_prefetch,
                retry=retry_policy(self._settings),
                progress=self.progress,
                stopping=self._stopping,
            )
            started = time.monotonic()
            self.progress.state = "connecting"
            try:
                await consumer.run()
            except Exception as exc:
                self.progress.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("inbound events consumer lost its connection", error=self.progress.last_error)
            if self._stopping.is_set():
                break
            failures = 1 if time.monotonic() - started > HEALTHY_RUN else failures + 1
            self.progress.state = "reconnecting"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(RECONNECT_CAP, 0.25 * 2**failures))
        self.progress.state = "stopped"

    def component(self) -> dict[str, object]:
        """For /readyz: reported, never required (the HTTP entry and the rest of the API work without it)."""
        state = self.progress.state
        return {
            "required": False,
            "configured": self.configured,
            "ok": state in ("consuming", "disabled"),
            "state": state,
            "consumed": self.progress.consumed,
            "dead_lettered": self.progress.dead_lettered,
        }

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether inbound events flow, and what is known: the consumer's progress, the queues' depths."""
        body: dict[str, Any] = {
            "consumer": self.progress.as_dict(),
            "exchange": self._queues.exchange,
            "queue": self._queues.queue,
        }
        if not self.configured:
            body.update(status="disabled", broker={"configured": bool(self._settings.rabbitmq_url)})
            return True, body
        assert self._settings.rabbitmq_url is not None
        try:
            depths = await queue_depths(self._settings.rabbitmq_url, self._queues)
        except Exception as exc:
            broker = {"configured": True, "ok": False, "error": type(exc).__name__}
            body.update(status="broker_unreachable", broker=broker)
            return False, body
        dead = depths.get("dead_letters")
        body.update(
            broker={"configured": True, "ok": True},
            queues=depths,
            queue_depth=None if depths["queue"] is None else depths["queue"]["messages"],
            dead_letters=None if dead is None else dead["messages"],
        )
        consuming = self.progress.state == "consuming"
        body["status"] = "ok" if consuming else self.progress.state
        return consuming, body
