"""``GET /api/notifications/stream``: notifications delivered on the sse channel, as Server-Sent Events, read from
the shared Redis stream (so any crm-api process serves any of them) and resumable with ``Last-Event-ID``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from crm.api.deps import CurrentCaller, Services
from crm.api.problems import problem_responses
from crm.api.streams import SHUTDOWN_GRACE_SECONDS, InvalidStreamRequest
from crm.domain.access import Access
from crm.domain.errors import FieldProblem, NotificationStreamUnavailable
from crm.domain.notifications.stream import NotificationFeed, shown_to

router = APIRouter(tags=["streams"])

EVENT = "notification"
READ_COUNT = 200
# How long one XREAD waits for an entry; the stream checks for shutdown between reads.
BLOCK_SECONDS = 5.0

STREAM_DESCRIPTION = """
Notifications delivered on the `sse` channel, as `text/event-stream`:

```
id: 1764612000000-0
event: notification
data: {"notification_id": "…", "event_key": "task.reminder", "user_id": "…", "staff": false, "text": "…", "at": "…"}
```

Each caller gets the notifications addressed to them; admins and managers get every one, the staff's
(notifications naming no recipient) included. `id` is the entry's id in the shared Redis stream: reconnect with
`Last-Event-ID: <last id>` (or `?last_event_id=`) to get what came after it (as long as the stream keeps it,
about `CRM_NOTIFICATIONS_STREAM_MAXLEN` entries), then the live ones. A comment line (`: ping`) is sent every
`CRM_STREAM_HEARTBEAT_SECONDS`. Without Redis (`CRM_REDIS_URL`) the route answers 503.
"""


def _feed(services: Services) -> NotificationFeed:
    if services.notification_feed is None:
        raise NotificationStreamUnavailable(
            "The notifications stream needs Redis: CRM_REDIS_URL is not set.",
            errors=[FieldProblem("CRM_REDIS_URL", "not set")],
        )
    return services.notification_feed


async def _events(
    feed: NotificationFeed, start: str, access: Access, shutdown: anyio.Event
) -> AsyncIterator[ServerSentEvent]:
    last = start
    while not shutdown.is_set():
        try:
            entries = await feed.read_after(last, block_seconds=BLOCK_SECONDS, count=READ_COUNT)
        except NotificationStreamUnavailable:
            return  # Redis went away: the client reconnects with the last id it got
        for entry in entries:
            last = entry.id
            if shown_to(entry, access):
                yield ServerSentEvent(data=json.dumps(entry.data, ensure_ascii=False), event=EVENT, id=entry.id)


@router.get(
    "/api/notifications/stream",
    summary="Live notifications (SSE), resumable with Last-Event-ID",
    description=STREAM_DESCRIPTION,
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(422, 503)},
)
async def stream_notifications(
    services: Services,
    caller: CurrentCaller,
    last_event_id_query: Annotated[
        str | None,
        Query(alias="last_event_id", max_length=64, description="For clients that cannot set Last-Event-ID."),
    ] = None,
    last_event_id: Annotated[str | None, Header(description="The `id` of the last event received.")] = None,
) -> EventSourceResponse:
    feed = _feed(services)
    raw, field = (
        (last_event_id_query, "last_event_id") if last_event_id_query is not None else (last_event_id, "Last-Event-ID")
    )
    start = (raw or "").strip()
    if start and not feed.valid_id(start):
        raise InvalidStreamRequest(
            f"{field} must be the id of an event of this stream.", errors=[FieldProblem(field, "not an event id")]
        )
    # Read before the response starts, also when resuming: Redis away is a 503 with Retry-After, not a 200 that
    # ends at once (and a client reconnecting in a tight loop). Without an id to resume from, the stream starts
    # here: whatever is delivered after the client sees 200 reaches it.
    latest = await feed.latest_id()
    start = start or latest
    shutdown = anyio.Event()
    return EventSourceResponse(
        _events(feed, start, Access.of(caller), shutdown),
        ping=services.stream_heartbeat,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
