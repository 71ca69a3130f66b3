"""Wiring of the permission sync queue, for crm-api's requests and crm-worker's permission-jobs alike."""

from __future__ import annotations

from crm.app.config import Settings
from crm.infrastructure.permissions_queue import BullMqPermissionQueue


def permission_queue(settings: Settings) -> BullMqPermissionQueue | None:
    """The BullMQ queue of the settings, or ``None`` without a Redis URL for it. The caller closes it.

    It connects lazily: crm-api starts while Redis is away, and each sync then answers 503.
    """
    if not settings.permissions_redis:
        return None
    return BullMqPermissionQueue(
        settings.permissions_redis,
        prefix=settings.permissions_queue_prefix,
        queue_name=settings.permissions_queue_name,
        job_name=settings.permissions_job_name,
        timeout=settings.permissions_queue_timeout,
    )
