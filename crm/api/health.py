"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crm.api.deps import Services

router = APIRouter(tags=["system"])

READINESS = {
    "type": "object",
    "required": ["status", "components"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not_ready"]},
        "components": {
            "type": "object",
            "description": "Each component's state: `ok`, and `required: false` for one that is only reported.",
            "additionalProperties": {"type": "object"},
        },
    },
}


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready to serve: database reachable and at the migration head; broker and Redis reported",
    responses={
        200: {"content": {"application/json": {"schema": READINESS}}},
        503: {
            "description": "Not ready; the body says which component failed",
            "content": {"application/json": {"schema": READINESS}},
        },
    },
)
async def readyz(services: Services) -> JSONResponse:
    components = await services.readiness.check()
    # Broker and Redis are reported, not required: while they are away events wait in the outbox.
    ready = all(bool(c.get("ok")) for c in components.values() if c.get("required", True))
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "components": components}
    return JSONResponse(body, status_code=200 if ready else 503)
