"""HTTP metrics and ``GET /metrics``, the Prometheus text exposition of this process (docs/metrics.md).

``RequestMetrics`` counts each request and observes its duration, labelled by method, the route's template
(``/api/v1/deals/{deal_id}``, never the raw path: one series per route, not per record) and status. A request
no route matched is labelled ``unmatched``. The composition root makes the registry (one per application) and
hands ``/metrics`` what renders it (``MetricsExposition``).
"""

from __future__ import annotations

import time
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import RouteContext, iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
# Seconds; the service's answers take milliseconds, an export or a slow list seconds.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

Labels = tuple[str, str, str]


class HttpMetrics:
    """The request counter and latency histogram, on the application's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # No <name>_created series beside each counter and histogram: a start time per label set that doubles the
        # series for nothing Prometheus needs (process_start_time_seconds says when the process started).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        labels = ("method", "route", "status")
        self._requests = Counter(
            "crm_http_requests", "HTTP requests answered, by route template and status.", labels, registry=registry
        )
        self._duration = Histogram(
            "crm_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # labels() takes a lock and builds a key each call: the children of each label set are kept here.
        self._children: dict[Labels, tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self._requests.labels(*key), self._duration.labels(*key))
        children[0].inc()
        children[1].observe(seconds)


class RequestMetrics:
    """ASGI middleware feeding ``HttpMetrics``. A stream's duration is how long its client stayed."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._routes: list[RouteContext] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when nothing inside answers

        async def send_seeing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seeing_status)
        finally:
            # The router leaves the route it matched (or partly matched, for a 405) in the scope.
            route = scope.get("route")
            template = getattr(route, "path_format", None) if route is not None else self._template(scope)
            self.metrics.observe(scope["method"], template or UNMATCHED, status, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str | None:
        """The template of the route a request answered before routing (a 401, 413, 429) was meant for; None for
        a path no route serves. Only those requests pay for this walk over the routes."""
        if self._routes is None:
            app = scope.get("app")
            self._routes = list(iter_route_contexts(app.router.routes)) if app is not None else []
        partial = None
        for route in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path_format
            if match is Match.PARTIAL and partial is None:
                partial = route.path_format
        return partial


class MetricsExposition(Protocol):
    async def render(self) -> bytes:
        """The Prometheus text exposition of every metric of this process, read now."""


router = APIRouter(tags=["system"])

METRICS_DESCRIPTION = """
The Prometheus text exposition (format 0.0.4) of this process: HTTP requests, the outbox backlog, the relay,
the deal stream, the database pool. Open like the health checks: restrict it where the service is exposed.
Figures read from the database at scrape time are left out while it does not answer within a second, and
`crm_metrics_database_up` is then 0; the answer is 200 all the same. docs/metrics.md lists every metric.
"""


@router.get(
    "/metrics",
    summary="Metrics of this process, for Prometheus",
    description=METRICS_DESCRIPTION,
    response_class=Response,
    responses={200: {"description": "The exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    exposition: MetricsExposition = request.app.state.metrics
    return Response(await exposition.render(), media_type=CONTENT_TYPE)
