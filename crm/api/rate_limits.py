"""The per-caller rate limit of the API: a dependency that counts each request, and the headers that tell.

``rate_limit`` is attached to every API router where the composition root includes it (not to /healthz and
/readyz). It keys the caller by ``get_caller``'s ``actor_id`` (the token's subject) when there is one, else by the
client address, so it counts whoever authentication says is calling. Over the quota it raises ``RateLimited``:
a 429 problem with ``Retry-After``, before the route's own code runs.

Every answer of a counted request carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``
(draft-ietf-httpapi-ratelimit-headers), whatever its status. Routes answer with their own ``Response`` objects,
which FastAPI does not merge a dependency's headers into, so ``RateLimitHeaders`` (a middleware) adds them: it
gives each request an empty ``RateLimitNote`` in its scope, which the dependency fills in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.deps import CurrentCaller, Services
from crm.domain.errors import DomainError
from crm.domain.rate_limits import RateDecision

NOTE = "crm.rate_limit"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


@dataclass(slots=True)
class RateLimitNote:
    """What the limiter decided for this request, if it was counted."""

    decision: RateDecision | None = None


def caller_key(actor_id: UUID | None, request: Request) -> str:
    """Whom a request counts against: the actor when the caller is known, else the client's address."""
    if actor_id is not None:
        return f"actor:{actor_id}"
    return f"addr:{request.client.host if request.client else 'unknown'}"


async def rate_limit(request: Request, services: Services, caller: CurrentCaller) -> None:
    """Counts the request against its caller's quota; 429 ``rate_limited`` over it."""
    limiter = services.rate_limiter
    if limiter is None:
        return
    decision = await limiter.hit(caller_key(caller.actor_id, request))
    note = request.scope.get(NOTE)
    if isinstance(note, RateLimitNote):
        note.decision = decision
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after))
        error = RateLimited(f"More than {decision.limit} requests in the window; retry in {wait} s.")
        error.retry_after = wait
        raise error


def rate_limit_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset_after)).encode()),
    ]


class RateLimitHeaders:
    """Adds the RateLimit-* headers of a counted request to its answer, whatever answered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = RateLimitNote()
        scope[NOTE] = note

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start" and note.decision is not None:
                message = {**message, "headers": [*message.get("headers", ()), *rate_limit_headers(note.decision)]}
            await send(message)

        await self.app(scope, receive, send_with_limits)
