"""Test harness: a database of its own per run, migrated once, emptied between tests."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from crm.app.config import Settings
from crm.app.main import create_app
from crm.infrastructure.db.migrations import upgrade_to_head
from tests.apps import UNREACHED_RATE_LIMIT
from tests.auth import SECRET, admin
from tests.services import postgres_admin_url, rabbitmq_url, redis_url

# Reference data seeded by migrations stays; everything else is emptied before each database test.
KEPT_TABLES = ("alembic_version", "task_statuses")
# Seeded by migrations but changed by tests (the default pipeline and its stages): emptied, then put back as the
# migrations left them, in this order.
RESEEDED_TABLES = ("pipelines", "pipeline_stages")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    with postgres_admin_url() as url:
        yield url


@pytest.fixture(scope="session")
def run_id() -> str:
    """Names this run's exchange, queues, channels and keys, so parallel runs never see each other's."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    with rabbitmq_url() as url:
        yield url


@pytest.fixture(scope="session")
def cache_url() -> Iterator[str]:
    with redis_url() as url:
        yield url


@pytest.fixture(scope="session")
def make_database(admin_url: str) -> Iterator[object]:
    """Creates empty databases on demand (named uniquely) and drops them all at the end of the run."""
    created: list[str] = []

    def make(prefix: str = "crm_test") -> str:
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        created.append(name)
        return with_database(admin_url, name)

    yield make
    for name in created:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(make_database) -> str:  # type: ignore[no-untyped-def]
    url = make_database()
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, run_id: str) -> Settings:
    # The shared app runs no relay: tests that publish start their own (tests/messaging). Tokens are HS256 with
    # tests.auth.SECRET. Its rate limit is counted but never reached; tests of the limit set their own.
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        access_log=False,
        relay_enabled=False,
        jwt_access_secret=SECRET,
        rate_limit_requests=UNREACHED_RATE_LIMIT,
        rate_limit_prefix=f"crm:rate-limit:{run_id}",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def seeds(database_url: str) -> dict[str, str]:
    """The rows of ``RESEEDED_TABLES`` as the migrations left them, as JSON (read before any test changed them)."""
    connection = await asyncpg.connect(database_url)
    try:
        return {
            table: await connection.fetchval(f"SELECT coalesce(json_agg(t), '[]') FROM crm.{table} t")
            for table in RESEEDED_TABLES
        }
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def db(database_url: str, seeds: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the tests' own, for looking behind the API (outbox rows, raw state); every database test
    starts from the migrations' data (``seeds``)."""
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    # Tests that need no database (unit tests) do not pay for one.
    if not {"db", "api", "anonymous"} & set(request.fixturenames):
        yield
        return
    connection: asyncpg.Connection = request.getfixturevalue("db")
    seeded: dict[str, str] = request.getfixturevalue("seeds")
    tables = await connection.fetchval(
        "SELECT string_agg(format('crm.%I', tablename), ', ') FROM pg_tables "
        "WHERE schemaname = 'crm' AND NOT tablename = ANY($1::text[])",
        list(KEPT_TABLES),
    )
    await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    for table, rows in seeded.items():
        await connection.execute(
            f"INSERT INTO crm.{table} SELECT * FROM json_populate_recordset(NULL::crm.{table}, $1::json)", rows
        )
    yield


@pytest.fixture
async def api(app: object, db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    """The shared app's client, sending an admin's token (tests.auth.admin) unless a request sends its own."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test", headers=admin()) as client:
        yield client


@pytest.fixture
async def anonymous(app: object, db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    """The shared app's client sending no token at all."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        yield client
