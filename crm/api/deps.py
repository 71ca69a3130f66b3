"""What routes get from the composition root, and the caller of each request."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from uuid import UUID

from asgi_correlation_id import correlation_id
from fastapi import Depends, Header, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from crm.api.cursors import CursorSigner
from crm.api.errors import ReplayResponse
from crm.domain.calculations.service import CalculationService
from crm.domain.caller import Caller
from crm.domain.clients.service import ClientService
from crm.domain.clock import Clock
from crm.domain.deals.service import DealService
from crm.domain.errors import DomainError, FieldProblem, IdempotencyKeyInUse
from crm.domain.idempotency import IdempotencyClaim, IdempotencyStore
from crm.domain.journal.service import JournalService
from crm.domain.payments.line_service import PaymentLineService
from crm.domain.payments.service import PaymentService
from crm.domain.permissions.service import PermissionSyncService
from crm.domain.policies.document_service import PolicyDocumentService
from crm.domain.policies.service import PolicyService
from crm.domain.streams import DealEventFeed
from crm.domain.tasks.service import TaskService


class ReadinessProbe(Protocol):
    async def check(self) -> dict[str, dict[str, object]]:
        """Each component's state; one with ``"ok": False`` makes the service unready unless ``"required": False``."""


@dataclass(frozen=True, slots=True)
class ApiServices:
    clients: ClientService
    deals: DealService
    calculations: CalculationService
    policies: PolicyService
    policy_documents: PolicyDocumentService
    journal: JournalService
    tasks: TaskService
    payments: PaymentService
    payment_lines: PaymentLineService
    permissions: PermissionSyncService
    idempotency: IdempotencyStore
    readiness: ReadinessProbe
    clock: Clock
    deal_stream: DealEventFeed
    stream_heartbeat: float
    cursors: CursorSigner


async def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADERS = ("content-type", "etag", "location")


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"


class BadHeader(DomainError):
    status = 400
    code = "invalid_header"
    title = "Invalid header"


def _actor(user_id: str | None) -> UUID | None:
    if user_id is None:
        return None
    try:
        return UUID(user_id)
    except ValueError as exc:
        raise BadHeader("X-User-Id must be a UUID.", errors=[FieldProblem("X-User-Id", "not a UUID")]) from exc


def _request_hash(body: bytes) -> str:
    # Same JSON, differently spaced or ordered, is the same request.
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


async def get_caller(
    request: Request,
    services: Services,
    x_user_id: Annotated[
        str | None,
        Header(description="Development stand-in for the token's `sub` until authentication lands."),
    ] = None,
    x_user_roles: Annotated[
        str | None,
        Header(description="Development stand-in for the token's roles, comma-separated (default `admin`)."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(description="On POST: a retry with the same key and body returns the first response."),
    ] = None,
) -> Caller:
    """The one function that decides who is calling; authentication will replace its header reading."""
    actor_id = _actor(x_user_id)
    roles = frozenset(r.strip() for r in (x_user_roles or "admin").split(",") if r.strip())
    claim = None
    if idempotency_key is not None and request.method == "POST":
        claim = await _claim(request, services.idempotency, idempotency_key, actor_id)
    return Caller(actor_id=actor_id, roles=roles, trace_id=correlation_id.get(), idempotency=claim)


async def _claim(request: Request, store: IdempotencyStore, key: str, actor_id: UUID | None) -> IdempotencyClaim:
    if not _KEY.match(key):
        raise BadHeader(
            "Idempotency-Key must be 1-255 visible ASCII characters.",
            errors=[FieldProblem("Idempotency-Key", "1-255 visible ASCII characters")],
        )
    scope = f"{request.method} {request.url.path} {actor_id or '-'}"
    request_hash = _request_hash(await request.body())
    stored = await store.find(scope, key)
    if stored is not None:
        if stored.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request body.",
                errors=[FieldProblem("Idempotency-Key", "already used for another request")],
            )
        if stored.status is None or stored.body is None:
            raise IdempotencyKeyInUse("A request with this Idempotency-Key is still being processed; retry.")
        raise ReplayResponse(stored.status, stored.headers or {}, stored.body)
    claim = IdempotencyClaim(scope=scope, key=key, request_hash=request_hash)
    request.state.idempotency_claim = claim
    return claim


CurrentCaller = Annotated[Caller, Depends(get_caller)]


class IdempotentRoute(APIRoute):
    """Stores the answer of a successful keyed POST right after the change committed with its claim."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            return handler

        async def handle(request: Request) -> Response:
            response = await handler(request)
            claim: IdempotencyClaim | None = getattr(request.state, "idempotency_claim", None)
            if claim is not None and 200 <= response.status_code < 300:
                headers = {k: v for k, v in response.headers.items() if k in REPLAYED_HEADERS}
                services: ApiServices = request.app.state.services
                await services.idempotency.save_response(
                    claim.scope, claim.key, response.status_code, headers, bytes(response.body)
                )
            return response

        return handle
