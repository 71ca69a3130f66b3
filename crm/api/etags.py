"""ETag / If-Match / If-None-Match on the record version.

A record whose state is derived on read (a payment's status depends on "today") carries that state in its
ETag too (``"3-overdue"``), so a cached copy goes stale when the state does; If-Match still compares versions.
"""

from __future__ import annotations

import re

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,18})(?:-[a-z0-9_]{1,32})?"\s*$')
NO_VERSION = -1  # stands for an If-Match that can match no version


def etag_of(version: int, state: str | None = None) -> str:
    return f'"{version}"' if state is None else f'"{version}-{state}"'


def parse_if_match(header: str | None) -> int | None:
    """The version the caller expects; ``None`` when there is no condition (absent or ``*``).

    Several entity tags may be listed; we only ever serve one, so the first parseable one counts.
    Anything we could not have issued matches no version, so the request fails with 412.
    """
    if header is None or header.strip() == "*":
        return None
    for candidate in header.split(","):
        match = _ETAG.match(candidate)
        if match:
            return int(match.group(1))
    return NO_VERSION


def matches_none(header: str | None, etag: str) -> bool:
    """True if ``If-None-Match`` names this entity tag (or ``*``): the caller's copy is current."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == etag for candidate in header.split(","))
