"""Every crm-api process on one database signs cursors with the same key, so any of them continues a list."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from pydantic import SecretStr

from crm.app.main import create_app
from tests.auth import admin
from tests.factories import make_client


async def _clients_of(stack: AsyncExitStack, *all_settings) -> list[httpx.AsyncClient]:
    clients = []
    for settings in all_settings:
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://t", headers=admin())
        clients.append(await stack.enter_async_context(client))
    return clients


async def _first_cursor(client: httpx.AsyncClient) -> str:
    page = (await client.get("/api/v1/clients", params={"limit": 1})).json()
    return page["next_cursor"]


async def test_processes_without_a_configured_secret_share_the_key_kept_in_the_database(settings, api, db):
    for _ in range(3):
        await make_client(api)
    async with AsyncExitStack() as stack:
        first, second = await _clients_of(stack, settings, settings)
        cursor = await _first_cursor(first)
        assert (await second.get("/api/v1/clients", params={"cursor": cursor})).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM crm.service_keys WHERE name = 'cursor'") == 1


async def test_a_configured_secret_signs_the_cursors(settings, api):
    for _ in range(3):
        await make_client(api)
    secret = settings.model_copy(update={"cursor_secret": SecretStr("a-secret-of-at-least-16-chars")})
    other = settings.model_copy(update={"cursor_secret": SecretStr("another-secret-16-chars-long")})
    async with AsyncExitStack() as stack:
        first, same, different = await _clients_of(stack, secret, secret, other)
        cursor = await _first_cursor(first)
        assert (await same.get("/api/v1/clients", params={"cursor": cursor})).status_code == 200
        response = await different.get("/api/v1/clients", params={"cursor": cursor})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"
