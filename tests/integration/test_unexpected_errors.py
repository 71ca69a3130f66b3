"""What a route lets escape: a database data error is the caller's 4xx; anything else is a 500 problem that
still carries X-Request-ID and leaves the keep-alive connection usable."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from crm.app.config import Settings
from crm.app.main import create_app
from tests.apps import UNREACHED_RATE_LIMIT
from tests.factories import assert_problem


def _app_with_faults(database_url: str) -> FastAPI:
    """The real application (middleware, handlers) plus routes that fail the ways a route can."""
    app = create_app(
        Settings(_env_file=None, database_url=database_url, access_log=False, rate_limit_requests=UNREACHED_RATE_LIMIT)
    )

    async def boom() -> None:
        raise RuntimeError("a bug")

    async def query(sql: str, argument: object) -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.fetchval(sql, argument)
        finally:
            await connection.close()

    async def server_data_error() -> None:
        await query("SELECT $1::text::int", "not a number")  # SQLSTATE 22P02

    async def client_data_error() -> None:
        await query("SELECT $1::int", 2**40)  # asyncpg cannot encode it as int4

    async def port(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    app.add_api_route("/test/boom", boom)
    app.add_api_route("/test/server-data-error", server_data_error)
    app.add_api_route("/test/client-data-error", client_data_error)
    app.add_api_route("/test/port", port)
    return app


@pytest.fixture
async def faulty(database_url: str) -> Iterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app_with_faults(database_url))
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        yield client


async def test_an_unexpected_error_is_a_500_problem_carrying_the_request_id(faulty):
    response = await faulty.get("/test/boom", headers={"X-Request-ID": "4f2c9c1e7d3b4a8e9f0a1b2c3d4e5f60"})
    body = assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "4f2c9c1e7d3b4a8e9f0a1b2c3d4e5f60"
    assert body["instance"] == "/test/boom"
    assert "a bug" not in response.text
    generated = await faulty.get("/test/boom")
    assert len(generated.headers["x-request-id"]) == 32


@pytest.mark.parametrize("route", ["/test/server-data-error", "/test/client-data-error"])
async def test_a_database_data_error_is_a_422_problem(faulty, route):
    response = await faulty.get(route)
    assert_problem(response, 422, "invalid_value")
    assert response.headers["x-request-id"]


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    """The application with its fault routes behind a real uvicorn on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        _app_with_faults(database_url), host="127.0.0.1", port=port, lifespan="off", log_config=None
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(uvicorn_server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_the_connection_stays_usable_after_an_unexpected_error(server):
    with httpx.Client(base_url=server) as client:
        before = client.get("/test/port").json()["port"]
        response = client.get("/test/boom")
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["x-request-id"]
        assert response.headers.get("connection", "").lower() != "close"
        after = client.get("/test/port").json()["port"]
    assert after == before, "the server closed the keep-alive connection after the error"
