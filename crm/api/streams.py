"""``GET /streams/deals``: deal events as Server-Sent Events, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import anyio
from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from crm.api.deps import CurrentCaller, Services
from crm.api.problems import problem_responses
from crm.domain.errors import DomainError, FieldProblem
from crm.domain.streams import DealEventFeed, Resync, StreamFilter, Subscription

router = APIRouter(tags=["streams"])


class InvalidStreamRequest(DomainError):
    status = 422
    code = "validation_error"
    title = "Invalid input"


REPLAY_PAGE = 500
SHUTDOWN_GRACE_SECONDS = 2.0
MAX_DEAL_IDS = 100
_ROUTING_KEY = re.compile(r"^[a-z]+(\.[a-z_]+){1,4}$")

STREAM_DESCRIPTION = """
Every deal event (`deal.*`, including calculations, journal entries and payments) once its outbox row
is numbered, as `text/event-stream`:

```
id: 1042
event: deal.payment.updated
data: {"specversion": "1.0", "id": "…", "type": "crm.deal.payment.updated", "source": "crm.deals", …}
```

`id` is the event's outbox sequence. Reconnect with `Last-Event-ID: <last id>` (or `?last_event_id=`) to get
exactly what came after it, then the live events; without it the stream starts with the next event.
A comment line (`: ping`) is sent every `CRM_STREAM_HEARTBEAT_SECONDS` (15 s) so proxies keep the connection.
"""


def _last_event_id(header: str | None, query: str | None) -> int | None:
    raw, field = (query, "last_event_id") if query is not None else (header, "Last-Event-ID")
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit() or len(raw.strip()) > 18:
        raise InvalidStreamRequest(
            f"{field} must be the id of an event of this stream.", errors=[FieldProblem(field, "not an event id")]
        )
    return int(raw.strip())


def _types(values: list[str]) -> frozenset[str]:
    types = {t.strip() for value in values for t in value.split(",") if t.strip()}
    bad = sorted(t for t in types if not _ROUTING_KEY.match(t))
    if bad:
        raise InvalidStreamRequest(
            "types lists routing keys such as deal.created or deal.payment.updated.",
            errors=[FieldProblem("types", f"not a routing key: {bad[0][:64]}")],
        )
    return frozenset(types)


async def _close_on(shutdown: anyio.Event, subscription: Subscription) -> None:
    await shutdown.wait()
    subscription.close()


async def _events(
    feed: DealEventFeed, start: int, wanted: StreamFilter, shutdown: anyio.Event
) -> AsyncIterator[ServerSentEvent]:
    async with feed.subscribe() as subscription:
        # On shutdown the stream ends cleanly, within the grace period, instead of being cut off.
        closer = asyncio.create_task(_close_on(shutdown, subscription))
        try:
            # Subscribed first, then read back: an event published in between arrives both ways, sent once.
            last = start
            replay = True
            while not shutdown.is_set():
                if replay:
                    page = await feed.replay(last, wanted.deal_ids, wanted.types, REPLAY_PAGE)
                    for event in page:
                        last = event.sequence
                        yield ServerSentEvent(data=event.cloudevent, event=event.routing_key, id=str(event.sequence))
                    replay = len(page) == REPLAY_PAGE
                    continue
                item = await subscription.next()
                if item is None:
                    return
                if isinstance(item, Resync):
                    replay = True
                elif item.sequence > last:
                    last = item.sequence
                    if wanted.matches(item):
                        yield ServerSentEvent(data=item.cloudevent, event=item.routing_key, id=str(item.sequence))
        finally:
            closer.cancel()


@router.get(
    "/streams/deals",
    summary="Live deal events (SSE), resumable with Last-Event-ID",
    description=STREAM_DESCRIPTION,
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(422)},
)
@router.get("/streams", include_in_schema=False)
async def stream_deals(
    services: Services,
    caller: CurrentCaller,
    deal_id: Annotated[list[UUID] | None, Query(description="Only these deals (repeatable).")] = None,
    types: Annotated[
        list[str] | None, Query(description="Only these routing keys, comma-separated or repeated.")
    ] = None,
    last_event_id_query: Annotated[
        str | None, Query(alias="last_event_id", description="For clients that cannot set Last-Event-ID.")
    ] = None,
    last_event_id: Annotated[str | None, Header(description="The `id` of the last event received.")] = None,
) -> EventSourceResponse:
    deal_ids = frozenset(deal_id or ())
    if len(deal_ids) > MAX_DEAL_IDS:
        raise InvalidStreamRequest(
            f"At most {MAX_DEAL_IDS} deal_id values.", errors=[FieldProblem("deal_id", f"more than {MAX_DEAL_IDS}")]
        )
    wanted = StreamFilter(deal_ids=deal_ids, types=_types(types or []))
    start = _last_event_id(last_event_id, last_event_id_query)
    if start is None:
        # Fixed before the response starts: whatever happens after the client sees 200 reaches it.
        start = await services.deal_stream.latest_sequence()
    # The token was checked before the route (crm.api.auth); which deals' events the caller may see is not
    # decided yet, so every caller with a valid token gets every event.
    del caller
    shutdown = anyio.Event()
    return EventSourceResponse(
        _events(services.deal_stream, start, wanted, shutdown),
        ping=services.stream_heartbeat,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
