"""The caller's W3C ``traceparent``, kept for the request (``crm.domain.tracing.TRACEPARENT``).

A well-formed header is carried into every event the request writes and named on its log lines; a malformed
one is ignored, as the Trace Context recommendation says, and the request is served as if it had none.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from crm.domain.tracing import TRACEPARENT, parse_traceparent

HEADER = b"traceparent"


class TraceContext:
    """ASGI middleware: sets ``TRACEPARENT`` for the request's task from its ``traceparent`` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = [value for name, value in scope["headers"] if name == HEADER]
        # Two traceparent headers are a malformed one: both are ignored.
        traceparent = parse_traceparent(found[0].decode("latin-1")) if len(found) == 1 else None
        if traceparent is None:
            await self.app(scope, receive, send)
            return
        token = TRACEPARENT.set(traceparent)
        try:
            await self.app(scope, receive, send)
        finally:
            TRACEPARENT.reset(token)
