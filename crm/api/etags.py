"""ETag / If-Match / If-None-Match on the record version."""

from __future__ import annotations

import re

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,18})"\s*$')
NO_VERSION = -1  # stands for an If-Match that can match no version


def etag_of(version: int) -> str:
    return f'"{version}"'


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


def matches_none(header: str | None, version: int) -> bool:
    """True if ``If-None-Match`` names this version (or ``*``): the caller's copy is current."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any((m := _ETAG.match(c)) and int(m.group(1)) == version for c in header.split(","))
