"""The application factory: builds pools and services once, in the lifespan, and wires the routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
import httpx
import structlog
from fastapi import Depends, FastAPI

from crm.api import (
    analytics,
    appeals,
    automation,
    calculations,
    clients,
    deals,
    exports,
    health,
    inbound_events,
    journal,
    lead_stats,
    leads,
    metrics,
    notification_stream,
    notifications,
    payments,
    permissions,
    pipelines,
    policies,
    streams,
    tasks,
    templates,
    users,
)
from crm.api.conventions import install_http_conventions
from crm.api.cursors import CursorSigner
from crm.api.deps import ApiServices
from crm.api.rate_limits import rate_limit
from crm.app.auth import open_token_verifier
from crm.app.config import Settings
from crm.app.events import EventDelivery, redis_client
from crm.app.inbound import InboundEvents
from crm.app.metrics import ServiceMetrics
from crm.app.permissions import permission_queue as build_permission_queue
from crm.app.rate_limits import rate_limiter as build_rate_limiter
from crm.app.rate_limits import rate_quota
from crm.app.wiring import Wiring, open_pool
from crm.domain.analytics.service import AnalyticsService
from crm.domain.automation.service import AutomationRuleService
from crm.domain.calculations.service import CalculationService
from crm.domain.caller import TokenVerifier
from crm.domain.clients.service import ClientService
from crm.domain.deals.service import DealService
from crm.domain.deals.team import DealTeamService
from crm.domain.exports.service import ExportLimits, ExportService
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
from crm.domain.permissions.repository import PermissionQueue
from crm.domain.permissions.service import PermissionSyncService
from crm.domain.pipelines.service import PipelineService
from crm.domain.policies.document_service import PolicyDocumentService
from crm.domain.policies.documents import AcceptAllDocuments, DocumentCatalog
from crm.domain.policies.service import PolicyService
from crm.domain.rate_limits import RateLimiter
from crm.domain.tasks.service import TaskService
from crm.domain.users.service import UserContactService
from crm.infrastructure.db.analytics import PgAnalyticsReader
from crm.infrastructure.db.appeals import PgAppealReader, PgLeadReader
from crm.infrastructure.db.automation import PgAutomationReader
from crm.infrastructure.db.calculations import PgCalculationReader
from crm.infrastructure.db.clients import PgClientReader
from crm.infrastructure.db.deal_members import PgDealMemberReader
from crm.infrastructure.db.deals import PgDealReader
from crm.infrastructure.db.errors import translate as translate_database_error
from crm.infrastructure.db.exports import PgExportSource
from crm.infrastructure.db.journal import PgJournalReader
from crm.infrastructure.db.lead_stats import PgDistributionReader
from crm.infrastructure.db.leads import PgOperatorReader, PgSourceReader
from crm.infrastructure.db.migrations import current_revision, head_revision
from crm.infrastructure.db.notifications import PgNotificationReader, PgTemplateReader
from crm.infrastructure.db.payments import PgPaymentReader
from crm.infrastructure.db.permissions import PgPermissionSyncReader
from crm.infrastructure.db.pipelines import PgPipelineReader
from crm.infrastructure.db.policies import PgPolicyReader
from crm.infrastructure.db.policy_documents import PgPolicyDocumentReader
from crm.infrastructure.db.readiness import DatabaseReadiness
from crm.infrastructure.db.service_keys import CURSOR_KEY, shared_key
from crm.infrastructure.db.tasks import PgTaskReader
from crm.infrastructure.db.users import PgUserContactReader
from crm.infrastructure.documents import HttpDocumentCatalog, documents_http_client
from crm.infrastructure.events.inbound_reader import SdkCloudEventReader
from crm.infrastructure.notification_stream import RedisNotificationFeed
from crm.infrastructure.permissions_queue import UnconfiguredPermissionQueue

log = structlog.get_logger(__name__)

API_DESCRIPTION = """
CRM/Deals backend for insurance brokers.

* Errors are RFC 9457 `application/problem+json` with a stable `code`.
* Lists use keyset pagination: pass `next_cursor` back as `cursor`.
* Every record carries a `version`, served as `ETag`; send it in `If-Match` to change it safely (412 if stale).
* `POST` accepts `Idempotency-Key`: a retry with the same key and body returns the first response.
* Every `/api/v1` route and the deal stream need an access token (a JWT): `Authorization: Bearer <token>`, or the
  `crm_access_token` cookie. Its `sub` is the caller (recorded as `created_by_id`, `author_id`, …) and its `roles`
  (`admin`, `manager`, `seller`, `executor`, `user`; `ROLE_ADMIN` alike) decide what the caller may do. A missing
  or bad token is 401 `invalid_token` with `WWW-Authenticate: Bearer`.
* Each caller may make `CRM_RATE_LIMIT_REQUESTS` requests per `CRM_RATE_LIMIT_WINDOW_SECONDS`: answers say what is
  left in `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; over it, 429 with `Retry-After`.
* A body over `CRM_MAX_BODY_BYTES` is 413 `payload_too_large`, unread.
"""


class DatabaseNotMigrated(RuntimeError):
    pass


async def ensure_migrated(pool: asyncpg.Pool) -> None:
    head = head_revision()
    async with pool.acquire() as connection:
        revision = await current_revision(connection)
    if revision != head:
        raise DatabaseNotMigrated(
            f"The database is at migration {revision or 'none'}, this code needs {head}. "
            "Run `crm-api migrate` (or `alembic upgrade head`) first."
        )


class Readiness:
    """The database decides readiness; event delivery adds what it knows of the broker and Redis, the inbound
    events consumer its state (reported, not required)."""

    def __init__(self, database: DatabaseReadiness, events: EventDelivery, inbound: InboundEvents) -> None:
        self._database = database
        self._events = events
        self._inbound = inbound

    async def check(self) -> dict[str, dict[str, object]]:
        return {
            **await self._database.check(),
            **await self._events.check(),
            "inbound_events": self._inbound.component(),
        }


def inbound_event_service(app: Wiring) -> InboundEventService:
    """One path for both entries (the consumer and POST /api/notifications/events)."""
    return InboundEventService(app.uow, SdkCloudEventReader(), app.notification_intake)


async def cursor_signing_key(pool: asyncpg.Pool, settings: Settings) -> bytes:
    """``CRM_CURSOR_SECRET``, else the key kept in the database: every crm-api process must sign alike."""
    if settings.cursor_secret is not None:
        return settings.cursor_secret.get_secret_value().encode()
    return await shared_key(pool, CURSOR_KEY)


def build_services(
    app: Wiring,
    events: EventDelivery,
    inbound: InboundEvents,
    documents_http: httpx.AsyncClient | None = None,
    permission_queue: PermissionQueue | None = None,
    rate_limiter: RateLimiter | None = None,
    *,
    cursor_key: bytes,
    tokens: TokenVerifier | None,
    notification_feed: NotificationFeed | None = None,
) -> ApiServices:
    pool, clock, uow = app.pool, app.clock, app.uow
    # Without a Documents service configured, policy document links are accepted unchecked.
    catalog: DocumentCatalog = AcceptAllDocuments() if documents_http is None else HttpDocumentCatalog(documents_http)
    policy_reader = PgPolicyReader(pool)
    payment_reader = PgPaymentReader(pool, clock)
    pipeline_reader = PgPipelineReader(pool)
    return ApiServices(
        clients=ClientService(uow, PgClientReader(pool), clock, import_max_rows=app.settings.import_max_rows),
        deals=DealService(uow, PgDealReader(pool), pipeline_reader, clock),
        pipelines=PipelineService(uow, pipeline_reader, clock),
        automation=AutomationRuleService(uow, PgAutomationReader(pool, clock), pipeline_reader, clock),
        deal_team=DealTeamService(uow, PgDealMemberReader(pool), clock),
        calculations=CalculationService(uow, PgCalculationReader(pool), clock),
        policies=PolicyService(uow, policy_reader, clock, default_currency=app.settings.default_currency),
        policy_documents=PolicyDocumentService(uow, policy_reader, PgPolicyDocumentReader(pool), catalog, clock),
        journal=JournalService(uow, PgJournalReader(pool), clock),
        tasks=TaskService(uow, PgTaskReader(pool), clock),
        payments=PaymentService(uow, payment_reader, clock),
        payment_lines=PaymentLineService(uow, payment_reader, clock),
        # Without Redis configured, permission sync answers 503 naming the setting.
        permissions=PermissionSyncService(
            uow, PgPermissionSyncReader(pool), permission_queue or UnconfiguredPermissionQueue(), clock
        ),
        templates=TemplateService(
            uow,
            PgTemplateReader(pool),
            app.template_renderer,
            clock,
            default_locale=app.settings.notifications_default_locale,
        ),
        notifications=NotificationService(uow, PgNotificationReader(pool), app.notification_intake),
        inbound_events=inbound.service,
        inbound_health=inbound,
        user_contacts=UserContactService(uow, PgUserContactReader(pool)),
        operators=OperatorService(uow, PgOperatorReader(pool), clock),
        sources=SourceService(uow, PgSourceReader(pool), clock),
        leads=LeadService(uow, PgLeadReader(pool), clock),
        appeals=AppealService(uow, PgAppealReader(pool), clock, app.lead_draw),
        lead_stats=DistributionStatsService(PgDistributionReader(pool), clock),
        analytics=AnalyticsService(PgAnalyticsReader(pool), pipeline_reader, clock),
        exports=ExportService(
            PgExportSource(pool, clock),
            ExportLimits(
                csv_rows=app.settings.export_max_rows,
                xlsx_rows=app.settings.export_xlsx_max_rows,
                concurrent=app.settings.export_concurrency,
            ),
        ),
        idempotency=app.idempotency,
        readiness=Readiness(DatabaseReadiness(pool, head_revision()), events, inbound),
        clock=clock,
        deal_stream=events.stream,
        stream_heartbeat=app.settings.stream_heartbeat_seconds,
        cursors=CursorSigner(cursor_key),
        tokens=tokens,
        rate_limiter=rate_limiter,
        notification_feed=notification_feed,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("CRM_DATABASE_URL is not set; `crm-api` starts an embedded database instead.")
        async with AsyncExitStack() as stack:
            tokens = await open_token_verifier(settings, stack)
            pool = await open_pool(
                settings,
                application_name="crm-api",
                min_size=settings.db_pool_min_size,
                max_size=settings.db_pool_max_size,
            )
            stack.push_async_callback(pool.close)
            documents_http = None
            if settings.documents_base_url:
                documents_http = documents_http_client(settings.documents_base_url, settings.documents_timeout)
                stack.push_async_callback(documents_http.aclose)
            permission_queue = build_permission_queue(settings)
            if permission_queue is not None:
                stack.push_async_callback(permission_queue.close)
            rate_limiter = build_rate_limiter(settings)
            if rate_limiter is not None:
                stack.push_async_callback(rate_limiter.close)
            await ensure_migrated(pool)
            events = EventDelivery(settings, pool)
            app.state.events = events
            service_metrics.attach(pool, events)
            stack.callback(service_metrics.detach)
            cursor_key = await cursor_signing_key(pool, settings)
            notification_feed = None
            if settings.redis_url:
                # Its own client: each stream holds a connection while XREAD blocks.
                notification_redis = redis_client(settings.redis_url)
                stack.push_async_callback(notification_redis.aclose)
                notification_feed = RedisNotificationFeed(notification_redis, settings.notifications_stream_key)
            wiring = Wiring.of(pool, settings)
            inbound = InboundEvents(settings, inbound_event_service(wiring))
            app.state.inbound_events = inbound
            app.state.services = build_services(
                wiring,
                events,
                inbound,
                documents_http,
                permission_queue,
                cursor_key=cursor_key,
                tokens=tokens,
                rate_limiter=rate_limiter,
                notification_feed=notification_feed,
            )
            await events.start()
            stack.push_async_callback(events.stop)
            await inbound.start()
            stack.push_async_callback(inbound.stop)
            # Start-up leaves ~120 k long-lived objects (Alembic and SQLAlchemy for the migration check);
            # keeping them out of the collector's reach cut full-collection pauses from ~100 ms to ~10 ms.
            gc.collect()
            gc.freeze()
            log.info("crm-api ready", pool_size=settings.db_pool_max_size)
            yield

    app = FastAPI(
        title="CRM/Deals API",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "clients", "description": "People and companies the broker sells to."},
            {"name": "deals", "description": "Sales to a client, from first contact to won or lost."},
            {"name": "deal team", "description": "Who besides its owner works on a deal, and so sees it."},
            {"name": "calculations", "description": "Insurers' quotes within a deal, from draft to confirmed."},
            {"name": "policies", "description": "Issued policies and the documents linked to them."},
            {"name": "payments", "description": "Instalments of a policy, their incomes, expenses and history."},
            {"name": "journal", "description": "Append-only notes on a deal."},
            {"name": "tasks", "description": "Work for a person, with due times, reminders and links to deals."},
            {"name": "users", "description": "How a user is reached: their Telegram id and preferred channel."},
            {
                "name": "lead intake",
                "description": "Operators who take appeals, the sources appeals come through and their weights; "
                "leads, their appeals, distribution and its statistics.",
            },
            {
                "name": "analytics",
                "description": "Funnel, time in stage, forecast, won and lost per owner and insurer, income: "
                "figures over the deals the caller may see.",
            },
            {"name": "permissions", "description": "Who may see or change a record, synced to Auth over BullMQ."},
            {
                "name": "notifications",
                "description": "Templates, and notifications delivered by crm-worker to Telegram and the stream.",
            },
            {"name": "streams", "description": "Live deal events and notifications as Server-Sent Events."},
            {"name": "inbound events", "description": "CloudEvents other systems send, over HTTP or RabbitMQ."},
            {"name": "system", "description": "Health, readiness and metrics."},
        ],
    )
    quota = rate_quota(settings)
    # One registry per application: a process that makes several (the tests do) never mixes their figures.
    service_metrics = ServiceMetrics()
    app.state.metrics = service_metrics
    install_http_conventions(
        app,
        translate=translate_database_error,
        cors_origins=settings.cors_origins,
        max_body_bytes=settings.max_body_bytes,
        body_limits={clients.IMPORT_PATH: settings.import_max_bytes},
        rate_limit=quota,
        metrics=service_metrics.http,
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Every API route and the stream count against their caller's rate limit; health checks and metrics do not.
    counted = [Depends(rate_limit)] if quota is not None else []
    # Starlette tries routes in order: the busiest writes come first (the prefixes do not overlap).
    for router in (
        appeals.appeals,
        deals.router,
        clients.router,
        calculations.router,
        policies.router,
        payments.router,
        journal.router,
        tasks.router,
        permissions.router,
        templates.router,
        notifications.router,
        inbound_events.router,
        users.router,
        leads.operators,
        leads.sources,
        appeals.leads,
        lead_stats.router,
        analytics.router,
        pipelines.router,
        automation.router,
        exports.router,
        streams.router,
        notification_stream.router,
    ):
        app.include_router(router, dependencies=counted)
    return app
