"""What the fault tests break and how they load it: servers and processes of their own, and a write load.

Every server or process here is started by the test, killed only by its own pid (or the process group it was
started in), and stopped in ``finally`` whatever happens; every wait is bounded and says what it waited for.
The shared PostgreSQL, Redis and RabbitMQ are never stopped: a test that needs an outage starts its own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from crm.app.config import Settings
from crm.app.main import create_app
from tests.apps import free_port
from tests.auth import SECRET, admin
from tests.outbox import PUBLISHED_UP_TO

CRM_API = str(Path(sys.executable).with_name("crm-api"))
CRM_WORKER = str(Path(sys.executable).with_name("crm-worker"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# The script itself, not /usr/sbin's wrapper (which switches user and so hides the node's pid from us).
RABBITMQ_SERVER = next(
    (p for p in ("/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server")) if p and Path(p).exists()),
    "rabbitmq-server",
)


async def within(check: Callable[[], Awaitable[bool]], timeout: float, what: str, *, every: float = 0.05) -> float:
    """Waits until ``check()`` is true, at most ``timeout`` seconds; how long it took. Fails naming ``what``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(every)
    return time.monotonic() - started


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class OwnProcess:
    """A process this test started, in a process group of its own, with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self._argv = list(argv)
        self._env = env
        self._cwd = cwd
        self.log = cwd / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def spawn(self) -> None:
        assert not self.alive, f"{self.name} already runs"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self._process = subprocess.Popen(
                self._argv, env=self._env, cwd=self._cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """``kill -9``, to the whole group it was started in (a script and the server it runs): no goodbye."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then ``kill -9`` after ``grace`` seconds; the exit code (None when it had to be killed)."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return process.returncode

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.log} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])

    async def ready(self, check: Callable[[], Awaitable[bool]], timeout: float) -> float:
        """Waits for ``check`` while the process lives; how long it took. Fails with the log's tail."""

        async def up() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited before it was ready\n{self.tail()}")
            return await check()

        try:
            return await within(up, timeout, f"{self.name} ready", every=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None


class OwnRedis:
    """A ``redis-server`` of the test's own on a free port, without persistence: kill it, start it again."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(folder)]
        self.process = OwnProcess(f"redis-{self.port}", argv, env=dict(os.environ), cwd=folder)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 15.0) -> float:
        self.process.spawn()
        return await self.process.ready(self._answers, timeout)

    async def _answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.readline(), 1)).startswith(b"+PONG")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    def kill(self) -> None:
        self.process.kill()

    def close(self) -> None:
        self.process.kill()


class OwnRabbitNode:
    """A RabbitMQ node of the test's own (its own name, ports, data and config, no plugins).

    Started again after a ``kill -9`` it keeps its name and data folder, so durable exchanges, queues and
    persistent messages survive, as on a production node that crashed and came back.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port, dist_port = free_port(), free_port()
        self.node = f"crmfault-{os.getpid()}-{uuid.uuid4().hex[:6]}@localhost"
        plugins, config, env_file = folder / "enabled_plugins", folder / "rabbitmq.conf", folder / "rabbitmq-env.conf"
        plugins.write_text("[].\n")
        config.write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        env_file.write_text("")  # not the machine's /etc/rabbitmq/rabbitmq-env.conf: it names the shared node
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env.update(
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(dist_port),
            RABBITMQ_MNESIA_BASE=str(folder / "mnesia"),
            RABBITMQ_LOG_BASE=str(folder / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_CONFIG_FILE=str(config),
            RABBITMQ_CONF_ENV_FILE=str(env_file),
        )
        self.process = OwnProcess(f"rabbitmq-{self.port}", [RABBITMQ_SERVER], env=env, cwd=folder)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def start(self, timeout: float = 60.0) -> float:
        """Starts the node and waits until it takes AMQP connections; how long that took."""
        self.process.spawn()
        return await self.process.ready(self._answers, timeout)

    async def _answers(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            connection = await aio_pika.connect(self.url, timeout=2)
        except Exception:
            return False
        await connection.close()
        return True

    def kill(self) -> None:
        self.process.kill()

    def close(self) -> None:
        self.process.kill()


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    """As tests/messaging's ``served_app`` (a real uvicorn server in this event loop), and the app too, so a test
    can look at its relay."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve())
    try:
        await within(lambda: asyncio.sleep(0, server.started or task.done()), 30, "the app serving")
        if task.done():
            task.result()
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


def crm_env(**settings: str) -> dict[str, str]:
    """The test's environment without any CRM_ setting of the shell, plus ``CRM_<NAME>`` for each given one."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
    env.update({f"CRM_{name.upper()}": value for name, value in settings.items()})
    return env


class CrmApi:
    """A real ``crm-api`` process on a port of its own, checking tokens with ``tests.auth.SECRET``; started again on
    the same port after a kill."""

    def __init__(self, folder: Path, **settings: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        settings = {"jwt_access_secret": SECRET, **settings}
        # Load from one address would soon be rate limited: the fault tests count answers, not refusals.
        defaults = {"service_host": "127.0.0.1", "service_port": str(self.port), "access_log": "false"}
        env = crm_env(**{**defaults, "rate_limit_requests": "0", **settings})
        self.process = OwnProcess(f"crm-api-{self.port}", [CRM_API], env=env, cwd=folder)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60.0) -> float:
        self.process.spawn()
        async with httpx.AsyncClient(base_url=self.url, timeout=1) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            return await self.process.ready(ready, timeout)

    def kill(self) -> None:
        self.process.kill()

    def close(self) -> None:
        self.process.stop()


class CrmWorker:
    """A real ``crm-worker worker --pool solo`` consuming its own queue (as tests/messaging's worker test)."""

    def __init__(self, folder: Path, queue: str, **settings: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.queue = queue
        env = crm_env(worker_queue=queue, data_dir=str(folder), **settings)
        argv = [CRM_WORKER, "worker", "--pool", "solo", "-l", "info", "-Q", queue, "-n", f"{queue}@%h"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.process = OwnProcess(f"crm-worker-{queue}", argv, env=env, cwd=folder)

    async def start(self, timeout: float = 60.0) -> float:
        self.process.spawn()

        async def ready() -> bool:
            return (
                " ready." in self.process.log.read_text(errors="replace").split(f"--- start {self.process.starts}")[-1]
            )

        return await self.process.ready(ready, timeout)

    def kill(self) -> None:
        self.process.kill()

    def close(self) -> None:
        self.process.stop(grace=15)


# --- load ---------------------------------------------------------------------------------------------


@dataclass
class WriteLoad:
    """Concurrent writers, each creating a client and then a deal of it, over and over, until stopped.

    It keeps what a caller would know: every answer's status (and the problems of those that were not 2xx),
    the ids of what was answered 2xx, and the transport errors of requests that got no answer at all (their
    change may or may not have committed: only the outbox can tell).
    """

    base_url: str
    writers: int = 15
    pause: float = 0.02  # between one writer's requests, so the load is steady rather than all-out
    request_timeout: float = 10.0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, Any]] = field(default_factory=list)
    created: dict[str, list[str]] = field(default_factory=lambda: {"clients": [], "deals": []})
    slowest: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.transport_errors.values())

    def statuses_by_code(self) -> dict[str, int]:
        return {str(code): count for code, count in sorted(self.statuses.items())}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WriteLoad]:
        """The writers run while the block runs; they are stopped (and waited for, boundedly) when it ends."""
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=self.writers, max_keepalive_connections=self.writers)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.request_timeout, limits=limits, headers=admin()
        ) as client:
            tasks = [asyncio.create_task(self._writer(client, stop, n)) for n in range(self.writers)]
            try:
                yield self
            finally:
                stop.set()
                _, left = await asyncio.wait(tasks, timeout=self.request_timeout + 5)
                for task in left:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for task in tasks:
                    if not task.cancelled() and task.exception() is not None:
                        raise AssertionError("a writer failed") from task.exception()

    async def _writer(self, client: httpx.AsyncClient, stop: asyncio.Event, number: int) -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            body = {"name": f"Fault Load {number}-{round_} LLC", "email": f"load{number}.{round_}@faults.example"}
            created = await self._post(client, "/api/v1/clients", body, "clients")
            if created is not None and not stop.is_set():
                deal = {"client_id": created, "title": f"Fleet CASCO {number}-{round_}", "next_review_at": "2027-03-01"}
                await self._post(client, "/api/v1/deals", deal, "deals")
            await asyncio.sleep(self.pause)

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any], kind: str) -> str | None:
        started = time.monotonic()
        try:
            response = await client.post(path, json=body)
        except httpx.HTTPError as exc:
            self.transport_errors[type(exc).__name__] += 1
            await asyncio.sleep(0.1)  # nobody listens (a killed process): do not spin
            return None
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.statuses[response.status_code] += 1
        if 200 <= response.status_code < 300:
            record_id: str = response.json()["id"]
            self.created[kind].append(record_id)
            return record_id
        self.problems.append(
            {
                "path": path,
                "status": response.status_code,
                "content_type": response.headers.get("content-type", ""),
                "retry_after": response.headers.get("retry-after"),
                "body": response.text[:300],
            }
        )
        return None


# --- the run's database and its events ----------------------------------------------------------------


async def kill_backends(db: asyncpg.Connection, *, only: int | None = None, spare: Sequence[int] = ()) -> int:
    """Terminates every backend of the run's own database but ``db``'s and ``spare``'s (or only the backend
    ``only``); how many. Other databases on the shared server are never touched."""
    killed = await db.fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT pid = ANY($2::int[])"
        " AND ($1::int IS NULL OR pid = $1)",
        only,
        list(spare),
    )
    return int(killed)


async def committed_events(db: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """Every outbox row by event id: what committed, whatever the caller was told."""
    rows = await db.fetch(
        "SELECT event_id, routing_key, aggregate_id, sequence, created_at,"
        f" sequence <= {PUBLISHED_UP_TO} AS published FROM crm.outbox ORDER BY id"
    )
    return {str(row["event_id"]): dict(row) for row in rows}


@dataclass
class Received:
    """What reached a consumer queue, in arrival order: message ids and the aggregate (``ce-subject``) of each."""

    ids: list[str] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)  # wall-clock time each event first arrived

    def add(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        assert message.message_id is not None
        self.first_seen.setdefault(message.message_id, time.time())
        self.ids.append(message.message_id)
        self.subjects[message.message_id] = str((message.headers or {}).get("ce-subject"))

    def new_between(self, start: float, end: float) -> int:
        """How many events arrived for the first time between two wall-clock moments."""
        return sum(1 for at in self.first_seen.values() if start < at <= end)

    @property
    def unique(self) -> set[str]:
        return set(self.ids)

    @property
    def duplicates(self) -> int:
        return len(self.ids) - len(self.unique)


async def answered_but_lost(
    db: asyncpg.Connection, load: WriteLoad, committed: dict[str, dict[str, Any]], received: Received
) -> dict[str, list[str]]:
    """Writes answered 2xx whose record is not in the database, or whose ``*.created`` event never arrived."""
    events = {(row["routing_key"], str(row["aggregate_id"])): event_id for event_id, row in committed.items()}
    lost: dict[str, list[str]] = {"records": [], "events": []}
    for kind, table, key in (("clients", "crm.clients", "client.created"), ("deals", "crm.deals", "deal.created")):
        ids = load.created[kind]
        found = {str(row["id"]) for row in await db.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::uuid[])", ids)}
        lost["records"] += [record_id for record_id in ids if record_id not in found]
        lost["events"] += [record_id for record_id in ids if events.get((key, record_id)) not in received.unique]
    return lost


async def declare_durable_queue(url: str, exchange: str, queue: str) -> None:
    """A durable queue bound to every routing key of ``exchange`` (declared durable too), left in place."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        bound = await channel.declare_queue(queue, durable=True)
        await bound.bind(declared, routing_key="#")
    finally:
        await connection.close()


async def drain_queue(url: str, queue: str, expected: set[str], timeout: float) -> Received:
    """Consumes ``queue`` until every id of ``expected`` arrived and nothing more came for half a second."""
    received = Received()
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        declared = await channel.declare_queue(queue, durable=True, passive=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            received.add(message)

        await declared.consume(on_message)
        await within(
            lambda: asyncio.sleep(0, expected <= received.unique),
            timeout,
            f"{len(expected)} events in queue {queue}, {len(expected - received.unique)} missing",
        )
        await quiet(received)
    finally:
        await connection.close()
    return received


async def quiet(received: Received, seconds: float = 0.5, longest: float = 5.0) -> None:
    """Waits until nothing more arrived for ``seconds`` (to count late duplicates), at most ``longest``."""
    deadline = time.monotonic() + longest
    seen = -1
    while seen != len(received.ids) and time.monotonic() < deadline:
        seen = len(received.ids)
        await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def receiving(url: str, exchange: str) -> AsyncIterator[Received]:
    """An exclusive queue on a broker that stays up, bound to every routing key of the run's exchange."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(declared, routing_key="#")
        received = Received()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            received.add(message)

        await queue.consume(on_message)
        yield received
    finally:
        await connection.close()


def summary_line(scenario: str, **figures: Any) -> str:
    """One JSON line per scenario: what was done to the service and how it answered."""
    return json.dumps({"scenario": scenario, **figures}, default=str, sort_keys=False)
