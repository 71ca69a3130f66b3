"""An app of a test's own, in this process: with its lifespan running behind an ASGI client, or behind a real
uvicorn server; and free local ports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from crm.app.config import Settings
from crm.app.main import create_app
from tests.auth import admin

# A rate limit no test reaches by accident: the limiter runs on every request, and never refuses one.
UNREACHED_RATE_LIMIT = 1_000_000


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app made with ``settings``, its lifespan (relay, fan-out, outside services) running, and a client for it
    sending an admin's token."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm.test", headers=admin()) as client:
            yield app, client


@contextlib.asynccontextmanager
async def serving(app: FastAPI, **options: Any) -> AsyncIterator[str]:
    """``app`` behind a real uvicorn server in this event loop (uvicorn ``options`` added); its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=1, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


def relay_settings(settings: Settings, *, broker_url: str, redis_url: str, exchange: str, channel: str) -> Settings:
    """``settings`` plus a relay publishing to ``exchange`` and fanning out through ``redis_url`` on ``channel``,
    quick to poll and to retry, as the messaging and fault tests run it."""
    return settings.model_copy(
        update={
            "relay_enabled": True,
            "rabbitmq_url": broker_url,
            "events_exchange": exchange,
            "redis_url": redis_url,
            "stream_channel": channel,
            "relay_poll_interval": 0.2,
            "relay_max_backoff": 0.5,
        }
    )


def free_port() -> int:
    """A local TCP port nothing listens on right now: for a server to take, or to be refused on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
