"""What the request metrics and the trace context cost per request, and what a scrape of /metrics costs.

The middleware of crm/api/metrics.py and crm/api/tracing.py is timed around a route that does nothing (a Starlette
router with the service's route templates, answering a fixed body), called straight through ASGI: no network,
no database, no client. So the difference between the variants is the middleware's own CPU time per request:

- ``bare``: the router alone;
- ``metrics``: inside ``RequestMetrics`` (counter and histogram by method, route template and status);
- ``metrics + traceparent``: and inside ``TraceContext``, each request sending a valid ``traceparent``;
- ``metrics, 401 path``: a request answered before routing (the template found by walking the routes).

Then a scrape: ``ServiceMetrics``' registry with one series per route template and status seen, rendered.

Each round runs every variant once, in turn; the table shows the best round of each (this machine is shared).

Usage: .venv/bin/python bench/metrics_cost.py [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.metrics import HttpMetrics, RequestMetrics
from crm.api.tracing import TraceContext
from crm.app.config import Settings
from crm.app.main import create_app

TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
BODY = b'{"id":"x"}'


async def ok(_: Any) -> Response:
    return Response(BODY, media_type="application/json")


def router() -> Starlette:
    """The service's route templates (so the router and the 401 walk match as many as crm-api does), each
    answering ``ok``."""
    service = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    templates = sorted({route.path_format for route in iter_route_contexts(service.routes) if route.path_format})
    return Starlette(routes=[Route(path, ok, methods=["GET", "POST", "PATCH", "DELETE"]) for path in templates])


class Unauthorized:
    """Answers 401 before the router runs, as ``Authentication`` does for a request without a token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def scope_of(path: str, headers: list[tuple[bytes, bytes]], app: Starlette) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(_: Message) -> None:
    return None


async def per_request(app: ASGIApp, make_scope: Callable[[], Scope], requests: int) -> float:
    """µs of CPU per request (one at a time: no other work in the process)."""
    started = time.process_time()
    for _ in range(requests):
        await app(make_scope(), receive, send)
    return (time.process_time() - started) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    app = router()
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    path = "/api/v1/deals/6f0e2b8e-1c8a-4d2e-9a55-0d5f1b6f3a10"
    variants: dict[str, tuple[ASGIApp, Callable[[], Scope]]] = {
        "bare": (app, lambda: scope_of(path, [], app)),
        "metrics": (RequestMetrics(app, metrics), lambda: scope_of(path, [], app)),
        "metrics + traceparent": (
            RequestMetrics(TraceContext(app), metrics),
            lambda: scope_of(path, [(b"traceparent", TRACEPARENT)], app),
        ),
        "unauthorized, bare": (Unauthorized(app), lambda: scope_of(path, [], app)),
        "unauthorized, metrics (401 path)": (
            RequestMetrics(Unauthorized(app), metrics),
            lambda: scope_of(path, [], app),
        ),
    }
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, (variant, make_scope) in variants.items():
            cost = await per_request(variant, make_scope, args.requests)
            best[name] = min(best.get(name, cost), cost)

    print(f"{'variant':<36} {'µs CPU / request':>18} {'added':>8}")
    for name, cost in best.items():
        base = best["unauthorized, bare"] if name.startswith("unauthorized") else best["bare"]
        print(f"{name:<36} {cost:>18.1f} {cost - base:>8.1f}")

    # A scrape: every route template seen with three statuses each.
    templates = [route.path for route in app.routes if isinstance(route, Route)]
    for template in templates:
        for status in (200, 404, 422):
            metrics.observe("GET", template, status, 0.003)
    series = len(templates) * 3
    renders: list[float] = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        exposition = generate_latest(registry)
        renders.append(time.perf_counter() - started)
    print(
        f"\nscrape of {series} label sets (counter + histogram, {len(exposition) // 1024} KiB):"
        f" {min(renders) * 1e3:.1f} ms (best of {args.rounds})"
    )


def run(entry: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(entry())


if __name__ == "__main__":
    run(main)
