"""Making pipelines over HTTP, and reading the deals' stage history, for the tests of pipelines."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID

PIPELINES = "/api/v1/pipelines"
DEFAULT = f"{PIPELINES}/{SEEDED_PIPELINE_ID}"
RENEWAL_STAGES = [
    {"key": "reminded", "name": "Reminded", "kind": "open", "sla_days": 7},
    {"key": "quoted", "name": "Quoted", "kind": "open", "probability": 60},
    {"key": "renewed", "name": "Renewed", "kind": "won"},
    {"key": "churned", "name": "Churned", "kind": "lost"},
]
LOST_REASONS = ["Price too high", "Went to a competitor"]


async def make_pipeline(
    api: httpx.AsyncClient, stages: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    """A pipeline named uniquely, with the renewal stages and lost reasons unless told."""
    body = {
        "name": f"Renewals {uuid.uuid4().hex[:8]}",
        "stages": RENEWAL_STAGES if stages is None else stages,
        "lost_reasons": LOST_REASONS,
        **fields,
    }
    response = await api.post(PIPELINES, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def stage_id(pipeline: dict[str, Any], key: str) -> str:
    return next(stage["id"] for stage in pipeline["stages"] if stage["key"] == key)


async def move(api: httpx.AsyncClient, deal: dict[str, Any], stage: str, **fields: Any) -> httpx.Response:
    return await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": stage, **fields})


async def history(api: httpx.AsyncClient, deal: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/deals/{deal['id']}/stage-history", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]
