"""HTTP routes of the permission sync: record a job, put it on the BullMQ queue, show its state."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.problems import problem_responses
from crm.api.responses import json_response
from crm.domain.permissions.schemas import PermissionSyncAccepted, PermissionSyncJob, PermissionSyncRequest

router = APIRouter(prefix="/api/v1/permissions/sync", tags=["permissions"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PermissionSyncAccepted,
    responses=problem_responses(400, 404, 409, 422, 503),
    summary="Sync who may see or change a client, deal or policy",
)
async def request_permission_sync(
    body: PermissionSyncRequest, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """Records the job (and the event `permissions.sync.requested`), then puts it on the BullMQ queue the Auth
    service consumes: 202 once Redis took it. Redis unreachable: 503 `queue_unavailable` and the job is kept as
    `failed`; no Redis configured: 503 naming the setting, nothing recorded. The owner must exist (404)."""
    return answer(await services.permissions.request(body, caller, answer.idempotency))


@router.get(
    "/{job_id}",
    response_model=PermissionSyncJob,
    responses=problem_responses(403, 404, 422),
    summary="Show a permission sync job",
)
async def get_permission_sync_job(job_id: UUID, caller: CurrentCaller, services: Services) -> Response:
    """`pending` until the enqueue is answered, then `queued` or `failed` (with `error`)."""
    return json_response(await services.permissions.get(job_id, caller))
