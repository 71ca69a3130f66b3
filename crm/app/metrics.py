"""What ``GET /metrics`` exposes for one crm-api application: its own registry (tests make many applications in
one process; none touches the library's global one), the HTTP metrics from the start, and from the lifespan on
the figures of the pool, the relay, the deal stream and the outbox, read when Prometheus scrapes.

docs/metrics.md lists every metric and its labels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from crm.api.metrics import HttpMetrics
from crm.app.events import EventDelivery, RelayFigures
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
            await runtime.refresh()
        # Written in a thread: with every route seen, the text is ~0.5 MiB and takes tens of milliseconds, which the
        # event loop's requests need not wait for. The library's metrics take their locks; the runtime figures were
        # read on the loop (``refresh``) and are only handed over.
        return await asyncio.to_thread(generate_latest, self.registry)


@dataclass(frozen=True, slots=True)
class RuntimeFigures:
    pool_size: int
    pool_idle: int
    pool_max: int
    relay: RelayFigures
    deal_subscribers: int
    backlog: OutboxBacklog | None  # None: the database did not answer


class RuntimeCollector(Collector):
    """Gauges and counters of the objects that keep them, read on the event loop by ``refresh`` just before a
    scrape (the outbox's from the database: a collector's ``collect`` cannot wait for a query)."""

    def __init__(self, pool: asyncpg.Pool, events: EventDelivery, store: OutboxStore) -> None:
        self._pool = pool
        self._events = events
        self._store = store
        self._figures: RuntimeFigures | None = None

    async def refresh(self) -> None:
        backlog: OutboxBacklog | None = None
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                backlog = await self._store.backlog_figures(query_timeout=DATABASE_TIMEOUT)
        except Exception as exc:
            # Reported, never raised: /metrics answers what it could read.
            log.warning("metrics: the database did not answer", error=f"{type(exc).__name__}: {exc}")
        self._figures = RuntimeFigures(
            pool_size=self._pool.get_size(),
            pool_idle=self._pool.get_idle_size(),
            pool_max=self._pool.get_max_size(),
            relay=self._events.figures(),
            deal_subscribers=self._events.hub.listeners,
            backlog=backlog,
        )

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self._figures
        if figures is None:  # registered, not refreshed yet
            return
        yield from self._pool_figures(figures)
        yield from self._relay_figures(figures.relay)
        subscribers = GaugeMetricFamily(
            "crm_stream_subscribers", "Clients of this process's live streams.", labels=["stream"]
        )
        subscribers.add_metric(["deals"], figures.deal_subscribers)
        yield subscribers
        backlog = figures.backlog
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

    @staticmethod
    def _pool_figures(figures: RuntimeFigures) -> Iterator[GaugeMetricFamily]:
        size, idle = figures.pool_size, figures.pool_idle
        connections = GaugeMetricFamily(
            "crm_db_pool_connections", "Connections of this process's database pool, by state.", labels=["state"]
        )
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        yield connections
        yield GaugeMetricFamily(
            "crm_db_pool_max_connections", "The most connections the pool opens.", value=figures.pool_max
        )

    @staticmethod
    def _relay_figures(figures: RelayFigures) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
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
