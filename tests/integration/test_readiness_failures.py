"""/readyz never answers 500: whatever keeps it from looking makes the component not ready, by name."""

from __future__ import annotations

import asyncpg


async def test_a_client_side_database_error_is_503_naming_the_database(api, monkeypatch):
    async def broken(connection):  # type: ignore[no-untyped-def]
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress")

    monkeypatch.setattr("crm.infrastructure.db.readiness.current_revision", broken)

    response = await api.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["components"]["database"] == {"ok": False, "error": "InternalClientError"}
