"""HTTP methods beyond the routes' own: HEAD wherever GET is served, and a 405 that lists every method.

FastAPI's routes answer only the methods they declare, so ``HEAD /api/v1/clients`` was a 405, and a 405's
``Allow`` named the methods of the first route on the path only (``GET`` where ``PATCH`` and ``DELETE`` are
served too, by other routes).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at the request's path; HEAD with GET."""
    methods: set[str] = set()
    # FastAPI keeps included routers whole; their routes, with the prefixes applied, are walked here.
    for route in iter_route_contexts(list(routes)):
        if route.methods and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m))


class HeadAsGet:
    """Serves ``HEAD`` as the ``GET`` of the same URL (same status and headers, ETag and 304 included) and
    sends no body. A streaming answer (the SSE stream) ends once its headers are out: the application is told
    the client has gone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        headers_sent = False

        async def receive_until_answered() -> Message:
            if headers_sent:
                return {"type": "http.disconnect"}
            return await receive()

        async def send_headers_only(message: Message) -> None:
            nonlocal headers_sent
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                headers_sent = True
            elif not headers_sent:
                await send(message)

        await self.app({**scope, "method": "GET"}, receive_until_answered, send_headers_only)


def install_head_support(app: FastAPI) -> None:
    app.add_middleware(HeadAsGet)
