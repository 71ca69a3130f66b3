"""What routes get from the composition root: the services, the caller, and how a POST answers."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from crm.api.auth import caller_of
from crm.api.cursors import CursorSigner
from crm.api.errors import ReplayResponse
from crm.api.responses import post_response
from crm.domain.analytics.service import AnalyticsService
from crm.domain.automation.service import AutomationRuleService
from crm.domain.calculations.service import CalculationService
from crm.domain.caller import Caller, TokenVerifier
from crm.domain.clients.service import ClientService
from crm.domain.clock import Clock
from crm.domain.deals.service import DealService
from crm.domain.deals.team import DealTeamService
from crm.domain.errors import DomainError, FieldProblem, IdempotencyKeyInUse
from crm.domain.exports.service import ExportService
from crm.domain.idempotency import IdempotencyStore, IdempotentRequest, StoredAnswer
from crm.domain.journal.service import JournalService
from crm.domain.leads.intake import AppealService, LeadService
from crm.domain.leads.service import OperatorService, SourceService
from crm.domain.leads.stats import DistributionStatsService
from crm.domain.notifications.inbound import InboundEventService
from crm.domain.notifications.service import NotificationService
from crm.domain.notifications.stream import NotificationFeed
from crm.domain.notifications.template_service import TemplateService
from crm.domain.payments.line_service import PaymentLineService
from crm.domain.payments.service import PaymentService
from crm.domain.permissions.service import PermissionSyncService
from crm.domain.pipelines.service import PipelineService
from crm.domain.policies.document_service import PolicyDocumentService
from crm.domain.policies.service import PolicyService
from crm.domain.rate_limits import RateLimiter
from crm.domain.streams import DealEventFeed
from crm.domain.tasks.service import TaskService
from crm.domain.users.service import UserContactService


class InboundHealthProbe(Protocol):
    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether inbound events flow, and the consumer's state, progress and queue depths."""


class ReadinessProbe(Protocol):
    async def check(self) -> dict[str, dict[str, object]]:
        """Each component's state; one with ``"ok": False`` makes the service unready unless ``"required": False``."""


@dataclass(frozen=True, slots=True)
class ApiServices:
    clients: ClientService
    deals: DealService
    deal_team: DealTeamService
    pipelines: PipelineService
    automation: AutomationRuleService
    calculations: CalculationService
    policies: PolicyService
    policy_documents: PolicyDocumentService
    journal: JournalService
    tasks: TaskService
    payments: PaymentService
    payment_lines: PaymentLineService
    permissions: PermissionSyncService
    templates: TemplateService
    notifications: NotificationService
    inbound_events: InboundEventService
    inbound_health: InboundHealthProbe
    user_contacts: UserContactService
    operators: OperatorService
    sources: SourceService
    leads: LeadService
    appeals: AppealService
    lead_stats: DistributionStatsService
    analytics: AnalyticsService
    exports: ExportService
    idempotency: IdempotencyStore
    readiness: ReadinessProbe
    clock: Clock
    deal_stream: DealEventFeed
    stream_heartbeat: float
    cursors: CursorSigner
    tokens: TokenVerifier | None  # None: authentication is disabled (CRM_AUTH_DISABLED), for development only
    rate_limiter: RateLimiter | None = None  # None: no rate limit (CRM_RATE_LIMIT_REQUESTS=0)
    notification_feed: NotificationFeed | None = None  # None: no Redis, the notifications stream answers 503


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


def _request_hash(body: bytes) -> str:
    # Same JSON, differently spaced or ordered, is the same request.
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


async def get_caller(request: Request) -> Caller:
    """The one function that says who is calling: the subject and roles of the request's access token, which
    ``crm.api.auth`` checked before the route ran (with authentication disabled, the development admin)."""
    return caller_of(request.scope)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


class PostAnswer:
    """How a POST route answers its use case's result, and the request's ``Idempotency-Key`` if it has one.

    The route hands ``idempotency`` to the use case, whose unit of work stores the answer in the transaction of
    the change (``stored``); the route then answers with that same response, rendered once.
    """

    def __init__(self, status_code: int, path: str) -> None:
        self.status_code = status_code
        self.path = path
        self.idempotency: IdempotentRequest | None = None
        self._rendered: tuple[BaseModel, Response] | None = None

    def __call__(self, result: BaseModel) -> Response:
        if self._rendered is not None and self._rendered[0] is result:
            return self._rendered[1]
        return post_response(result, status_code=self.status_code, path=self.path)

    def stored(self, result: BaseModel) -> StoredAnswer:
        response = self(result)
        self._rendered = (result, response)
        headers = {name: value for name, value in response.headers.items() if name in REPLAYED_HEADERS}
        return StoredAnswer(response.status_code, headers, bytes(response.body))


async def post_answer(
    request: Request,
    services: Services,
    caller: CurrentCaller,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="A retry with the same key and body gets the first answer instead of a second change "
            "(1-255 visible ASCII characters; 400 otherwise).",
            json_schema_extra={"minLength": 1, "maxLength": 255, "pattern": _KEY.pattern},
        ),
    ] = None,
) -> PostAnswer:
    answer = PostAnswer(request.scope["route"].status_code or 200, request.url.path)
    if idempotency_key is None:
        return answer
    if not _KEY.match(idempotency_key):
        raise BadHeader(
            "Idempotency-Key must be 1-255 visible ASCII characters.",
            errors=[FieldProblem("Idempotency-Key", "1-255 visible ASCII characters")],
        )
    scope = f"{request.method} {request.url.path} {caller.actor_id or '-'}"
    request_hash = _request_hash(await request.body())
    earlier = await services.idempotency.find(scope, idempotency_key)
    if earlier is not None:
        if earlier.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request body.",
                errors=[FieldProblem("Idempotency-Key", "already used for another request")],
            )
        if earlier.answer is None:
            raise IdempotencyKeyInUse("The request with this Idempotency-Key has no answer to replay; use a new key.")
        raise ReplayResponse(earlier.answer.status, dict(earlier.answer.headers), earlier.answer.body)
    answer.idempotency = IdempotentRequest(scope, idempotency_key, request_hash, answer.stored)
    return answer


Answer = Annotated[PostAnswer, Depends(post_answer)]
