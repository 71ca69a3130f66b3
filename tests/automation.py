"""Making automation rules over HTTP and running crm-worker's automation passes, for the tests of automation."""

from __future__ import annotations

from typing import Any

import httpx

RULES = "/api/v1/automation/rules"


async def make_rule(
    api: httpx.AsyncClient, trigger: dict[str, Any], action: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"name": "A rule", "trigger": trigger, "action": action, **fields}
    response = await api.post(RULES, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def runs(api: httpx.AsyncClient, rule: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"{RULES}/{rule['id']}/runs", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def stage_moved(key: str) -> dict[str, Any]:
    """The trigger of an event rule: a deal came into stage ``key``."""
    return {
        "kind": "event",
        "event_type": "deal.stage.changed",
        "where": [{"path": "new_stage", "op": "eq", "value": key}],
    }
