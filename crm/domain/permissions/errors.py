"""What the permission sync can refuse."""

from __future__ import annotations

from crm.domain.errors import NotFound, Unavailable


class PermissionSyncJobNotFound(NotFound):
    code = "permission_sync_job_not_found"
    title = "Permission sync job not found"


class QueueUnavailable(Unavailable):
    """The permission queue (BullMQ in Redis) is not configured or did not take the job."""

    code = "queue_unavailable"
    title = "Permission queue unavailable"
