"""Keyset pagination: opaque cursors over a list's sort key, and the page shape every list returns."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
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


def _decode_value(value: Any) -> _Scalar:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "t":
            return datetime.fromisoformat(raw)
        if tag == "d":
            return date.fromisoformat(raw)
        if tag == "u":
            return UUID(raw)
    if value is None or isinstance(value, str | int):
        return value
    raise ValueError("unexpected cursor value")


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
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    for value, expected in zip(key, types, strict=True):
        # A datetime is a date too; the exact type keeps a crafted cursor from reaching SQL.
        if type(value) is not expected or (isinstance(value, datetime) and value.tzinfo is None):
            raise InvalidCursor()
    return key
