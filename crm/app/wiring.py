"""What crm-api and crm-worker build alike, built in one place: the pool, the clock and the unit of work.

crm-api adds its request services on top (``crm.app.main.build_services``); crm-worker hands this to its jobs
(``crm.app.jobs``). Nothing else opens a pool or makes a unit of work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from crm.app.config import Settings
from crm.domain.clock import Clock
from crm.domain.notifications.intake import NotificationIntake, NotificationRecorder
from crm.domain.notifications.rendering import TemplateRenderer
from crm.infrastructure.db.idempotency import PgIdempotencyStore
from crm.infrastructure.db.outbox import OutboxWriter
from crm.infrastructure.db.pool import create_pool
from crm.infrastructure.db.uow import PgUnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class Wiring:
    settings: Settings
    pool: asyncpg.Pool
    clock: Clock
    uow: PgUnitOfWorkFactory
    idempotency: PgIdempotencyStore
    template_renderer: TemplateRenderer
    notification_intake: NotificationIntake
    lead_draw: random.Random
    """Draws appeals among operators by weight; seeded by ``CRM_LEAD_DISTRIBUTION_SEED`` when set."""

    @classmethod
    def of(cls, pool: asyncpg.Pool, settings: Settings) -> Wiring:
        clock = Clock(settings.business_zone)
        renderer = TemplateRenderer()
        return cls(
            settings=settings,
            pool=pool,
            clock=clock,
            uow=PgUnitOfWorkFactory(pool, OutboxWriter(settings.events_source), clock),
            idempotency=PgIdempotencyStore(pool, timedelta(hours=settings.idempotency_key_ttl_hours)),
            template_renderer=renderer,
            # The one intake every asker records notifications through: HTTP, crm-worker's occasions, inbound events.
            notification_intake=NotificationRecorder(renderer, clock, settings.notifications_default_locale),
            lead_draw=random.Random(settings.lead_distribution_seed),
        )


async def open_pool(settings: Settings, *, application_name: str, min_size: int, max_size: int) -> asyncpg.Pool:
    """The process's asyncpg pool on ``CRM_DATABASE_URL``; the caller closes it."""
    if not settings.database_url:
        raise RuntimeError("CRM_DATABASE_URL is not set.")
    return await create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=settings.db_command_timeout,
        acquire_timeout=settings.db_acquire_timeout,
        application_name=application_name,
    )
