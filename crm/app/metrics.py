"""What ``GET /metrics`` exposes for one crm-api application: its own registry (tests make many applications in
one process; none touches the library's global one), the HTTP metrics from the start, and from the lifespan on
the figures of the pool, the relay, the deal stream and the outbox, read when Prometheus scrapes.

docs/metrics.md lists every metric and its labels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from crm.api.metrics import HttpMetrics
from crm.app.events import EventDelivery
from crm.infrastructure.db.outbox import OutboxBacklog, OutboxStore

log = structlog.get_logger(__name__)

# A scrape waits at most this long for the database (the pool's acquire and the query together); past it the
# outbox figures are left out of that scrape and crm_metrics_database_up is 0.
DATABASE_TIMEOUT = 1.0
RELAY_SINKS = ("broker", "stream")


class ServiceMetrics:
    """The registry of one application and what renders it (``crm.api.metrics.MetricsExposition``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = HttpMetrics(self.registry)
        ProcessCollector(registry=self.registry)
        self._runtime: RuntimeCollector | None = None

    def attach(self, pool: asyncpg.Pool, events: EventDelivery) -> None:
        """Adds the figures of what the lifespan built; ``detach`` when it ends."""
        self.detach()
        self._runtime = RuntimeCollector(pool, events, OutboxStore(pool))
        self.registry.register(self._runtime)

    def detach(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            self.registry.unregister(runtime)

    async def render(self) -> bytes:
        runtime = self._runtime
        if runtime is not None:
            await runtime.read_database()
        # One snapshot of a registry the event loop alone changes: nothing else runs while it is written.
        return generate_latest(self.registry)


class RuntimeCollector(Collector):
    """Gauges and counters read from the objects that keep them, at scrape time; the outbox's from the database,
    read by ``read_database`` just before (a collector's ``collect`` cannot wait for a query)."""

    def __init__(self, pool: asyncpg.Pool, events: EventDelivery, store: OutboxStore) -> None:
        self._pool = pool
        self._events = events
        self._store = store
        self._backlog: OutboxBacklog | None = None

    async def read_database(self) -> None:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                self._backlog = await self._store.pending(query_timeout=DATABASE_TIMEOUT)
        except Exception as exc:
            # Reported, never raised: /metrics answers what it could read.
            self._backlog = None
            log.warning("metrics: the database did not answer", error=f"{type(exc).__name__}: {exc}")

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._pool_figures()
        yield from self._relay_figures()
        subscribers = GaugeMetricFamily(
            "crm_stream_subscribers", "Clients of this process's live streams.", labels=["stream"]
        )
        subscribers.add_metric(["deals"], self._events.hub.listeners)
        yield subscribers
        backlog = self._backlog
        yield GaugeMetricFamily(
            "crm_metrics_database_up",
            f"1 when this scrape read the outbox figures; 0: the database gave no answer in {DATABASE_TIMEOUT:g} s.",
            value=0 if backlog is None else 1,
        )
        if backlog is not None:
            yield GaugeMetricFamily(
                "crm_outbox_unpublished", "Outbox events not yet published to the broker.", value=backlog.unpublished
            )
            yield GaugeMetricFamily(
                "crm_outbox_oldest_unpublished_age_seconds",
                "How long the oldest unpublished outbox event has waited; 0 when none waits.",
                value=backlog.oldest_age_seconds,
            )

    def _pool_figures(self) -> Iterator[GaugeMetricFamily]:
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        connections = GaugeMetricFamily(
            "crm_db_pool_connections", "Connections of this process's database pool, by state.", labels=["state"]
        )
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        yield connections
        yield GaugeMetricFamily(
            "crm_db_pool_max_connections", "The most connections the pool opens.", value=self._pool.get_max_size()
        )

    def _relay_figures(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self._events.figures()
        yield GaugeMetricFamily(
            "crm_relay_lead", "1 while this process's outbox relay leads (publishes), else 0.", value=int(figures.lead)
        )
        yield CounterMetricFamily(
            "crm_relay_published",
            "Events this process's relay published (the broker confirmed them, or returned them as unroutable).",
            value=figures.published,
        )
        failures = CounterMetricFamily(
            "crm_relay_failures", "Relay rounds that failed and were retried, by sink.", labels=["sink"]
        )
        for sink in sorted({*RELAY_SINKS, *figures.failures}):
            failures.add_metric([sink], figures.failures.get(sink, 0))
        yield failures
        yield CounterMetricFamily(
            "crm_relay_restarts", "Relays the watchdog replaced because they stalled.", value=figures.restarts
        )
