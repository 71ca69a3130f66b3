"""Making lead intake's directory over HTTP, for the tests of distribution."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

OPERATORS = "/api/v1/operators"
SOURCES = "/api/v1/sources"
APPEALS = "/api/v1/appeals"
LEADS = "/api/v1/leads"


async def make_operator(api: httpx.AsyncClient, *, max_load: int = 20, **fields: Any) -> dict[str, Any]:
    body = {"user_id": str(uuid.uuid4()), "name": f"Operator {uuid.uuid4().hex[:6]}", "max_load": max_load, **fields}
    response = await api.post(OPERATORS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def make_source(api: httpx.AsyncClient, weights: dict[str, int] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Source {uuid.uuid4().hex[:8]}", "channel": "telegram", **fields}
    response = await api.post(SOURCES, json=body)
    assert response.status_code == 201, response.text
    source = response.json()
    if weights is not None:
        await set_weights(api, source["id"], weights)
    return source


async def set_weights(api: httpx.AsyncClient, source_id: str, weights: dict[str, int]) -> None:
    body = [{"operator_id": operator_id, "weight": weight} for operator_id, weight in weights.items()]
    response = await api.put(f"{SOURCES}/{source_id}/weights", json=body)
    assert response.status_code == 200, response.text


async def appeal(
    api: httpx.AsyncClient, source_id: str, external_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"source_id": source_id, "external_id": external_id or f"tg:{uuid.uuid4().hex}", **fields}
    response = await api.post(APPEALS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def load_of(api: httpx.AsyncClient, operator_id: str) -> int:
    response = await api.get(f"{OPERATORS}/{operator_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["load"])
