"""The request body limit: a body over ``max_bytes`` is answered 413 ``payload_too_large`` and never handled.

A declared ``Content-Length`` over the limit is refused before the application sees the request. A body sent
without one (chunked, streamed) is counted as it arrives; the read that crosses the limit fails, and since every
route reads its whole body before any of its code runs (FastAPI parses it before solving dependencies), the
route never runs and nothing is written. The answer is always this middleware's own problem, whatever the
application made of the failed read.

Starlette's ``RequestBodyLimitMiddleware`` is not used: it checks ``Content-Length`` only once the body is read
or the answer starts, so a route that reads no body (a restore) would run, commit, and then be answered 413.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.problems import problem_response

DEFAULT_MAX_BODY_BYTES = 1_048_576


class BodyTooLarge(HTTPException):
    """Raised into the application by the read that crossed the limit. An ``HTTPException``, because FastAPI
    turns any other error of a body read into a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(max_bytes))


def too_large_detail(max_bytes: int) -> str:
    return f"The request body is larger than {max_bytes} bytes."


def too_large_problem(path: str, max_bytes: int) -> Response:
    return problem_response(
        status=413,
        code="payload_too_large",
        title="Content too large",
        detail=too_large_detail(max_bytes),
        instance=path,
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length; counting still applies
    return None


class BodyLimit:
    """``max_bytes`` for every path but those ``per_path`` names (an upload route with a larger limit)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope["path"], self.max_bytes)
        declared = _declared_length(scope)
        if declared is not None and declared > max_bytes:
            await too_large_problem(scope["path"], max_bytes)(scope, receive, send)
            return
        received = 0
        refused = started = False

        async def receive_within_limit() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes and not started:
                    refused = True
                    raise BodyTooLarge(max_bytes)
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the application's answer to the failed read; ours goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_unless_refused)
        except Exception:
            if not refused:
                raise
        if refused:
            await too_large_problem(scope["path"], max_bytes)(scope, receive, send)
