"""What the permission sync can refuse."""

from __future__ import annotations

from crm.domain.errors import DomainError, NotFound


class PermissionSyncJobNotFound(NotFound):
    code = "permission_sync_job_not_found"
    title = "Permission sync job not found"


class QueueUnavailable(DomainError):
    """The permission queue (BullMQ in Redis) is not configured or did not take the job."""

    status = 503
    code = "queue_unavailable"
    title = "Permission queue unavailable"
