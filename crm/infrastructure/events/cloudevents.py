"""Domain events as CloudEvents 1.0 structured JSON, built and validated by the CloudEvents SDK."""

from __future__ import annotations

from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from crm.domain.events import DomainEvent

TYPE_PREFIX = "crm."
_FORMAT = JSONFormat()


def to_cloudevent_json(event: DomainEvent, source: str, traceparent: str | None = None) -> str:
    """``type`` is ``crm.`` + the routing key; ``subject`` is the aggregate's id; ``traceparent`` (the
    distributed-tracing extension) the W3C trace context of the request that caused it, when it had one."""
    attributes: dict[str, Any] = {
        "id": str(event.event_id),
        "source": source,
        "type": TYPE_PREFIX + event.routing_key,
        "subject": str(event.aggregate_id),
        "time": event.occurred_at,
        "datacontenttype": "application/json",
    }
    if traceparent:
        attributes["traceparent"] = traceparent
    cloudevent = CloudEvent(attributes, event.data)
    return _FORMAT.write(cloudevent).decode()
