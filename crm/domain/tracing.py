"""W3C Trace Context: the caller's ``traceparent``, kept for the request's task like its request id.

The HTTP layer sets ``TRACEPARENT`` from a request's header when the header is well formed; the outbox writer
carries it into each event it writes (the CloudEvents distributed-tracing extension), and log lines name it.
The service starts no spans of its own: what it carries is its caller's span, as received.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

TRACEPARENT: ContextVar[str | None] = ContextVar("crm_traceparent", default=None)

# version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex (https://www.w3.org/TR/trace-context/).
_FIELDS = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_INVALID_VERSION = "ff"
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16
# Longer than any header a caller has reason to send: a later version may add fields, but not without bound.
_MAX_LENGTH = 512


def parse_traceparent(value: str | None) -> str | None:
    """The ``traceparent`` to carry, or None for a header that is missing or malformed (which is ignored).

    Version ``00`` is exactly four fields. A later version may append fields after a ``-``: its first four are
    read, and carried as version ``00`` (the only one this service knows how to state)."""
    if value is None or len(value) > _MAX_LENGTH:
        return None
    value = value.strip(" \t")
    match = _FIELDS.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == _INVALID_VERSION or trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    rest = value[match.end() :]
    if version == "00":
        return value if not rest else None
    if rest and not rest.startswith("-"):
        return None
    return f"00-{trace_id}-{parent_id}-{flags}"


def trace_id_of(traceparent: str) -> str:
    """The trace id (32 hex digits) of a ``traceparent`` that ``parse_traceparent`` returned."""
    return traceparent[3:35]
