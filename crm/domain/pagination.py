"""Keyset pagination: opaque cursors over a list's sort key, and the page shape every list returns."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from crm.domain.errors import InvalidCursor

T = TypeVar("T")

DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")
    total: int | None = Field(default=None, description="All matching records; only with `with_total=true`.")


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    with_total: bool = False


_Scalar = str | int | date | datetime | UUID | None


def _encode_value(value: _Scalar) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, UUID):
        return {"u": str(value)}
    return value


# Sort keys are timestamptz, date, uuid and integer columns (bigint at most).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _decode_value(value: Any) -> _Scalar:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "t":
            return _instant(raw)
        if tag == "d":
            return date.fromisoformat(raw)
        if tag == "u":
            return UUID(raw)
    if isinstance(value, bool):
        raise ValueError("unexpected cursor value")
    if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
        raise ValueError("integer out of range")
    if value is None or isinstance(value, str | int):
        return value
    raise ValueError("unexpected cursor value")


def _instant(raw: str) -> datetime:
    """An aware datetime the database can be sent: asyncpg converts it to UTC first, and an offset can push
    an instant at either end of years 1-9999 out of them (``0001-01-01T00:00:00+14:00``)."""
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("naive datetime")
    try:
        instant.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("datetime out of range") from exc
    return instant


def encode_cursor(kind: str, key: tuple[_Scalar, ...]) -> str:
    payload = json.dumps([kind, [_encode_value(v) for v in key]], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """The sort key a cursor stands for, typed as ``types``; ``InvalidCursor`` if it is not one
    this service issued for ``kind``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        issued_for, values = json.loads(raw)
        if issued_for != kind or not isinstance(values, list) or len(values) != len(types):
            raise InvalidCursor()
        key = tuple(_decode_value(v) for v in values)
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError, binascii.Error) as exc:
        raise InvalidCursor() from exc
    for value, expected in zip(key, types, strict=True):
        # A datetime is a date too, and a bool an int; the exact type keeps a crafted cursor from reaching SQL.
        if type(value) is not expected:
            raise InvalidCursor()
    return key
