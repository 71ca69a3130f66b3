"""Inbound events over HTTP (the same CloudEvents the RabbitMQ consumer takes), and the consumer's health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.problems import PROBLEM_CONTENT_TYPE, problem_responses, problem_type
from crm.domain.errors import Forbidden
from crm.domain.notifications.inbound import InboundAccepted
from crm.domain.notifications.inbound_repository import MAX_ID_LENGTH, MAX_SOURCE_LENGTH, MAX_SUBJECT_LENGTH
from crm.domain.notifications.schemas import TELEGRAM_CHAT_ID
from crm.domain.tasks.schemas import JsonObject

router = APIRouter(prefix="/api/notifications", tags=["inbound events"])

_TEXT = "^[^\\x00]*$"
# `data` as the notifications take it (a payload: a JSON object, I-JSON, bounded), with what it may say of whom.
# Its `JsonValue` is the one the tasks' and notifications' payloads put under components/schemas.
_DATA = TypeAdapter(JsonObject).json_schema(ref_template="#/components/schemas/{model}")
_DATA.pop("$defs", None)
_DATA["properties"] = {
    "chatId": {
        "description": "A Telegram chat to send to: a chat id, or an `@channel` name.",
        "anyOf": [
            {"type": "integer", "minimum": -99_999_999_999_999_999_999, "maximum": 99_999_999_999_999_999_999},
            {"type": "string", "pattern": TELEGRAM_CHAT_ID},
            {"type": "null"},
        ],
    },
    "userId": {"description": "The person the chat belongs to, when a UUID (anything else is ignored)."},
}
CLOUDEVENT: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvent 1.0 in structured mode. `data` is a JSON object; `data.chatId` has it sent to that "
    "Telegram chat, with `data.userId` (a UUID) naming the person. Extension attributes are named in lower-case "
    "letters and digits.",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": _TEXT},
        "source": {"type": "string", "minLength": 1, "maxLength": MAX_SOURCE_LENGTH, "pattern": _TEXT},
        "type": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_.:-]+$"},
        "subject": {"type": "string", "minLength": 1, "maxLength": MAX_SUBJECT_LENGTH, "pattern": _TEXT},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "minLength": 1},
        "dataschema": {"type": "string", "minLength": 1},
        "data": {"anyOf": [_DATA, {"type": "null"}]},
    },
    "propertyNames": {"pattern": "^[a-z0-9]+$"},
    "example": {
        "specversion": "1.0",
        "id": "5f1c2a4e-0d7b-4c55-9a51-0f0e3c2b7d11",
        "source": "billing",
        "type": "notifications.invoice.overdue",
        "time": "2026-12-01T09:00:00+03:00",
        "data": {"chatId": 123456789, "invoice": "INV-42"},
    },
}
HEALTH = {
    "type": "object",
    "required": ["status", "consumer"],
    "properties": {
        "status": {
            "type": "string",
            "description": "`ok`: consuming; `disabled`: no consumer in this process (no broker configured); "
            "`broker_unreachable`, or the consumer's state (`connecting`, `reconnecting`, `waiting_for_database`).",
        },
        "consumer": {
            "type": "object",
            "description": "This process's consumer: `state`, counts (`consumed`, `journaled`, `duplicates`, "
            "`failed`, `retried`, `dead_lettered`, `malformed`, `connects`, `database_waits`), `last_message_at`, "
            "`last_error`.",
        },
        "queue_depth": {"type": ["integer", "null"], "description": "Messages waiting in the queue."},
        "dead_letters": {"type": ["integer", "null"], "description": "Messages in `<queue>.dlq`."},
        "queues": {"type": "object", "description": "Messages and consumers of the queue, its retry and DLQ."},
        "broker": {"type": "object"},
    },
}


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InboundAccepted,
    responses=problem_responses(403, 413, 422, 503),
    summary="Take an inbound CloudEvent (structured, plain JSON, or binary mode with ce-* headers)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": CLOUDEVENT},
                "application/json": {"schema": CLOUDEVENT},
            },
        }
    },
)
async def receive_inbound_event(
    request: Request, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """The same events the RabbitMQ consumer takes from `notifications.exchange`, journaled and handed to the
    notifications intake in one transaction: 202 once committed. A repeated `id` is 202 with `duplicate: true`,
    not processed again. Binary mode: the attributes in `ce-specversion`, `ce-id`, `ce-source`, `ce-type`
    (`ce-time`, `ce-subject`) headers and `data` as the JSON body. Not a CloudEvent: 422 naming the field.
    Admins and managers only (services post with such a token): 403 otherwise."""
    body = await request.body()
    return answer(await services.inbound_events.receive(body, request.headers, caller, answer.idempotency))


@router.get(
    "/health",
    summary="The inbound events consumer: state, progress, queue depth and dead letters",
    responses={
        200: {
            "description": "Consuming, or no consumer configured",
            "content": {"application/json": {"schema": HEALTH}},
        },
        **problem_responses(403, 503),
    },
)
async def inbound_events_health(request: Request, caller: CurrentCaller, services: Services) -> JSONResponse:
    """Admins and managers. Depths come from passive declares on the broker; nothing is declared or consumed.
    The broker unreachable, or the consumer not consuming (connecting, reconnecting, waiting for the database):
    503 `inbound_events_unavailable` with `Retry-After`, the problem carrying the same members as a 200 would."""
    if not caller.is_privileged:
        raise Forbidden("Only admins and managers may see the inbound events' health.")
    healthy, body = await services.inbound_health.health()
    if healthy:
        return JSONResponse(body)
    code = "inbound_events_unavailable"
    problem: dict[str, Any] = {
        "type": problem_type(code),
        "title": "Inbound events unavailable",
        "status": 503,
        "detail": f"Inbound events do not flow: {body['status']}.",
        "instance": request.url.path,
        "code": code,
        "errors": [],
        **body,
    }
    return JSONResponse(problem, status_code=503, headers={"Retry-After": "5"}, media_type=PROBLEM_CONTENT_TYPE)
