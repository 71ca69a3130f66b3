"""Pieces the messaging tests share: due reminders, a consumer queue, a real HTTP server, a cuttable proxy, SSE."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
import pytest

from crm.app import jobs
from crm.app.config import Settings
from crm.app.main import create_app
from crm.app.wiring import Wiring
from tests.apps import free_port, serving
from tests.auth import admin


async def make_due(db: asyncpg.Connection, reminder: dict[str, Any]) -> datetime:
    """The API only takes reminders in the future; move this one a minute into the past. Its new time."""
    return await db.fetchval(
        "UPDATE crm.task_reminders SET remind_at = now() - interval '1 minute' WHERE id = $1 RETURNING remind_at",
        uuid.UUID(reminder["id"]),
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {message}")
        await asyncio.sleep(0.05)


async def run_job(name: str, pool: Any, settings: Settings) -> dict[str, Any]:
    """One crm-worker job, once, on the tests' pool, as ``crm-worker run`` does it."""
    return await jobs.run(name, Wiring.of(pool, settings))


@contextlib.asynccontextmanager
async def served_app(settings: Settings) -> AsyncIterator[str]:
    """The app behind a real uvicorn server in this event loop (streams need a real connection); its base URL."""
    async with serving(create_app(settings)) as url:
        yield url


@dataclass
class Consumer:
    """An exclusive queue bound to every routing key of the run's exchange, collecting what arrives."""

    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[aio_pika.abc.AbstractIncomingMessage]:
        async def enough() -> bool:
            return len(self.messages) >= count

        await eventually(enough, timeout, f"{count} messages, got {len(self.messages)}")
        return self.messages

    async def quiet(self, seconds: float = 0.5) -> None:
        """Waits until nothing more has arrived for ``seconds`` (to catch duplicates)."""
        seen = -1
        while seen != len(self.messages):
            seen = len(self.messages)
            await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def consumer(url: str, exchange: str, binding: str = "#") -> AsyncIterator[Consumer]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(declared, routing_key=binding)
        collected = Consumer()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            collected.messages.append(message)

        await queue.consume(on_message)
        yield collected
    finally:
        await connection.close()


async def delete_exchange(url: str, exchange: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


class TcpProxy:
    """Forwards a local port to a server; ``cut()`` drops every connection and refuses new ones until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        self._writers.difference_update((client_writer, upstream_writer))

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            transport: Any = writer.transport
            transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        await self.start()

    def url(self, original: str) -> str:
        """``original`` with its host and port replaced by the proxy's."""
        parts = urlsplit(original)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@dataclass
class Sse:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)

    @property
    def cloudevent(self) -> dict:
        return json.loads("\n".join(self.data))


class Stream:
    """Reads a ``text/event-stream`` response: events, and the comment lines between them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.comments: list[str] = []
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        # One reader for the whole response, so a timed-out wait does not close the body.
        try:
            async for line in self.response.aiter_lines():
                await self._lines.put(line)
        finally:
            await self._lines.put(None)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._reader

    async def next(self, timeout: float = 10.0) -> Sse:
        async with asyncio.timeout(timeout):
            event = Sse()
            while (line := await self._lines.get()) is not None:
                if line == "":
                    if event.data or event.event:
                        return event
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    self.comments.append(value)
                elif name == "id":
                    event.id = value
                elif name == "event":
                    event.event = value
                elif name == "data":
                    event.data.append(value)
            raise AssertionError("the stream ended")

    async def take(self, count: int, timeout: float = 10.0) -> list[Sse]:
        return [await self.next(timeout) for _ in range(count)]

    async def nothing_more(self, seconds: float = 0.7) -> None:
        with pytest.raises(TimeoutError):
            await self.next(timeout=seconds)


@contextlib.asynccontextmanager
async def open_stream(base_url: str, path: str = "/streams/deals", **headers: str) -> AsyncIterator[Stream]:
    """The stream at ``path``, read with an admin's token unless ``headers`` name their own ``Authorization``."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0, read=None), headers=admin()) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        stream = Stream(response)
        try:
            yield stream
        finally:
            await stream.close()
