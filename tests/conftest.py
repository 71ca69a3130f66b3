"""Test harness: a database of its own per run, migrated once, emptied between tests."""

from __future__ import annotations

import asyncio
import graphlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from xdist.scheduler import LoadFileScheduling

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


@dataclass(frozen=True)
class Emptying:
    """How ``_empty_tables`` empties the run's database: a ``DELETE`` of each table, children before the tables they
    reference, and a restart of the sequences the tables own, as ``TRUNCATE ... RESTART IDENTITY CASCADE`` would
    leave them. ``TRUNCATE`` costs a new file for every table and every index, about 90 ms for the schema against
    a few for the ``DELETE``s of the rows one test wrote; it stays the way out only should the foreign keys ever
    form a cycle (``deletes`` is then empty)."""

    tables: list[str]
    deletes: str
    sequences: list[str]


# The run's database's ``Emptying``, worked out by its first test (the schema does not change during a run).
EMPTYING: dict[str, Emptying] = {}


async def _emptying(connection: asyncpg.Connection) -> Emptying:
    tables = [
        row["name"]
        for row in await connection.fetch(
            "SELECT format('crm.%I', tablename)::regclass::text AS name FROM pg_tables"
            " WHERE schemaname = 'crm' AND NOT tablename = ANY($1::text[]) ORDER BY tablename",
            list(KEPT_TABLES),
        )
    ]
    references = await connection.fetch(
        "SELECT DISTINCT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid <> confrelid AND confrelid::regclass::text = ANY($1::text[])",
        tables,
    )
    # A table is deleted from after every table that references it.
    after: dict[str, set[str]] = {table: set() for table in tables}
    for row in references:
        after[row["parent"]].add(row["child"])
    try:
        order = [table for table in graphlib.TopologicalSorter(after).static_order() if table in after]
    except graphlib.CycleError:
        order = []
    sequences = await connection.fetch(
        "SELECT DISTINCT s.oid::regclass::text AS name FROM pg_class s JOIN pg_depend d ON d.objid = s.oid"
        " WHERE s.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
        " AND d.deptype IN ('a', 'i') AND d.refobjid::regclass::text = ANY($1::text[])",
        tables,
    )
    return Emptying(
        tables=tables,
        deletes="".join(f"DELETE FROM {table};" for table in order),
        sequences=sorted(row["name"] for row in sequences),
    )


async def empty_database(connection: asyncpg.Connection, database_url: str, seeded: dict[str, str]) -> None:
    """Every table of the schema as the migrations left it: ``KEPT_TABLES`` untouched, ``RESEEDED_TABLES`` holding
    ``seeded``, the rest empty, and their sequences starting over."""
    if database_url not in EMPTYING:
        EMPTYING[database_url] = await _emptying(connection)
    emptying = EMPTYING[database_url]
    async with connection.transaction():
        if emptying.deletes:
            await connection.execute(emptying.deletes)
            # What RESTART IDENTITY does: each sequence a table owns starts over (only those a test moved).
            await connection.execute(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
                " FROM pg_sequences WHERE last_value IS NOT NULL"
                " AND format('%I.%I', schemaname, sequencename)::regclass::text = ANY($1::text[])",
                emptying.sequences,
            )
        else:
            await connection.execute(f"TRUNCATE {', '.join(emptying.tables)} RESTART IDENTITY CASCADE")
        for table, rows in seeded.items():
            await connection.execute(
                f"INSERT INTO crm.{table} SELECT * FROM json_populate_recordset(NULL::crm.{table}, $1::json)", rows
            )


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
        # A test database outlives no crash of the server: its commits need not wait for the disk. Every session on
        # it (the tests', the apps', crm-api and crm-worker processes) commits without waiting; what a commit makes
        # visible to other sessions, and what a killed backend leaves, are the same.
        asyncio.run(_admin(admin_url, f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
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
    await empty_database(connection, request.getfixturevalue("database_url"), seeded)
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


# --- running on several workers (pytest-xdist; scripts/test.sh asks for two) ---------------------------------------
# Every worker is a run of its own: its own database, exchange, queues, channels and keys (``run_id``), so any test
# can go to any worker. ``--dist loadfile`` sends a file's tests to one worker, in collection order. tests/e2e and
# tests/faults start real processes and servers and time what they do: they are one unit of work, one test after
# another as before there were workers (two such scenarios at once would share two cores between four servers, and
# PostgreSQL's connections too), and, collected first, they start in a fresh worker, as they did in a run on one
# process: a fault test that reads the service's log (capture_logs) needs loggers no earlier test has cached under
# another configuration (crm.app.logging caches them). pytest-xdist's own ``xdist_group`` marks group nothing under
# pytest 9.2, whose node ids they can no longer rename (pytest-dev/pytest-xdist#1386), hence a scheduler of our own.
# Schemathesis (tests/contract) keeps a core busy for minutes: run beside a fault scenario it starved the servers the
# scenario times (no event between two kills). So it joins the unit, after the process tests: one worker runs the
# scenarios, then the contract run, while the other takes everything else.
PROCESS_TESTS = ("tests/e2e/", "tests/faults/")
AFTER_PROCESS_TESTS = ("tests/contract/",)
SERIAL_UNIT = "+".join((*PROCESS_TESTS, *AFTER_PROCESS_TESTS))


class ProcessTestsTogether(LoadFileScheduling):
    """``--dist loadfile``, with tests/e2e, tests/faults and then tests/contract as one unit of work."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith((*PROCESS_TESTS, *AFTER_PROCESS_TESTS)):
            return SERIAL_UNIT
        return super()._split_scope(nodeid)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """tests/contract right after the process tests (collected before them by name), in one run as on workers."""
    contract = [item for item in items if item.nodeid.startswith(AFTER_PROCESS_TESTS)]
    if not contract:
        return
    rest = [item for item in items if not item.nodeid.startswith(AFTER_PROCESS_TESTS)]
    last_process = max((n for n, item in enumerate(rest) if item.nodeid.startswith(PROCESS_TESTS)), default=-1)
    items[:] = [*rest[: last_process + 1], *contract, *rest[last_process + 1 :]]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LoadFileScheduling | None:
    if config.getvalue("dist") != "loadfile":
        return None
    return ProcessTestsTogether(config, log)  # type: ignore[arg-type]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A worker's output goes nowhere the terminal shows, so tests/faults' ``report`` does not print its
    ``FAULTS {...}`` lines there; they come back with each test's properties and are printed here, one a scenario."""
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "call" and hasattr(report, "node")
        for name, value in report.user_properties
        if name == "faults"
    ]
    if lines:
        terminalreporter.section("fault scenarios")
        for line in lines:
            terminalreporter.write_line(f"FAULTS {line}")
