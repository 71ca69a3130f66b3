"""Reading inbound CloudEvents 1.0 (structured JSON, or binary mode with ``ce-*`` headers), validated by the
CloudEvents SDK, into the domain's ``InboundEvent``; anything else is an ``InvalidInboundEvent`` naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import orjson
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.v1.event import CloudEvent
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from crm.domain.notifications.inbound import InvalidInboundEvent
from crm.domain.notifications.inbound_repository import (
    MAX_ID_LENGTH,
    MAX_SOURCE_LENGTH,
    MAX_SUBJECT_LENGTH,
    InboundEvent,
    Transport,
)
from crm.domain.types import unstorable_text

STRUCTURED = "application/cloudevents+json"
CE_PREFIX = "ce-"
_REQUIRED = ("specversion", "id", "source", "type")
_RFC3339 = TypeAdapter(AwareDatetime)
_LIMITS = {"id": MAX_ID_LENGTH, "source": MAX_SOURCE_LENGTH, "type": 255, "subject": MAX_SUBJECT_LENGTH}


class SdkCloudEventReader:
    """Structured mode when the content type says so or no ``ce-specversion`` header came; binary mode otherwise
    (the attributes in ``ce-*`` headers, ``data`` the JSON body)."""

    def read(self, body: bytes, headers: Mapping[str, str], transport: Transport) -> InboundEvent:
        lowered = {name.lower(): value for name, value in headers.items()}
        content_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != STRUCTURED and f"{CE_PREFIX}specversion" in lowered:
            attributes = _binary_attributes(lowered)
            data = _json(body, "body") if body.strip() else None
        else:
            document = _json(body, "body")
            if not isinstance(document, dict):
                raise InvalidInboundEvent("body", "must be a CloudEvent: a JSON object")
            if "data_base64" in document:
                raise InvalidInboundEvent("data_base64", "binary data is not taken; send `data` as a JSON object")
            data = document.pop("data", None)
            attributes = document
            if isinstance(attributes.get("time"), str):
                attributes["time"] = _instant(attributes["time"])
        return _event(attributes, data, transport)


def _json(body: bytes, field: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInboundEvent(field, "is not JSON") from None


def _instant(value: str) -> datetime:
    try:
        return _RFC3339.validate_python(value)
    except ValidationError:
        raise InvalidInboundEvent("time", "must be an RFC 3339 timestamp with an offset") from None


def _binary_attributes(headers: Mapping[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        if name.startswith(CE_PREFIX) and len(name) > len(CE_PREFIX):
            attributes[name[len(CE_PREFIX) :]] = unquote(value)
    if isinstance(attributes.get("time"), str):
        attributes["time"] = _instant(attributes["time"])
    return attributes


def _event(attributes: dict[str, Any], data: Any, transport: Transport) -> InboundEvent:
    # The SDK fills a missing id and time in; a received event must bring its own id.
    for name in _REQUIRED:
        if name not in attributes:
            raise InvalidInboundEvent(name, "is required")
    for name, limit in _LIMITS.items():
        value = attributes.get(name)
        if isinstance(value, str):
            problem = unstorable_text(value)
            if problem is not None:
                raise InvalidInboundEvent(name, problem)
            if len(value) > limit:
                raise InvalidInboundEvent(name, f"must be at most {limit} characters")
    if data is not None and not isinstance(data, dict):
        raise InvalidInboundEvent("data", "must be a JSON object")
    sent_time = "time" in attributes  # the SDK adds one when none came
    try:
        event = CloudEvent(attributes, data)
    except CloudEventValidationError as exc:
        name, problems = next(iter(exc.errors.items()))
        raise InvalidInboundEvent(name, str(problems[0])) from None
    return InboundEvent(
        id=event.get_id(),
        source=event.get_source(),
        type=event.get_type(),
        transport=transport,
        time=event.get_time() if sent_time else None,
        subject=event.get_subject(),
        data=data or {},
    )
