"""Values the tests put into requests: an id nothing has, a user to assign, dates and times relative to now."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from crm.app.config import Settings

# A well-formed UUID no record ever gets: asking for it is asking for something that does not exist.
MISSING = "00000000-0000-4000-8000-000000000000"
# Someone to assign tasks to (users live in Auth; the CRM only keeps their ids).
ASSIGNEE = "0b9c7f5e-3f1a-4d2b-9a8e-6c5d4b3a2f10"


# The tests' apps keep the default business time zone; "today" is its calendar day, as the service counts it (late
# in the UTC evening it is already tomorrow in Moscow).
BUSINESS_ZONE = ZoneInfo(Settings.model_fields["business_timezone"].default)


def today() -> date:
    """Today in the business time zone: the day the service calls today."""
    return datetime.now(BUSINESS_ZONE).date()


def day(offset: int) -> str:
    """The date ``offset`` days from today (negative: before), as the API writes dates."""
    return (today() + timedelta(days=offset)).isoformat()


def at(hours: float) -> str:
    """The instant ``hours`` from now (negative: before), in UTC, as the API writes times."""
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


_SUMMARY_HEAD = re.compile(r"^(?P<key>\S+) · \d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+$")


def untimed(text: str) -> str:
    """A notification's summary text (no template) with the time its first line carries taken out."""
    head, newline, rest = text.partition("\n")
    match = _SUMMARY_HEAD.match(head)
    assert match, f"not a summary: {text!r}"
    return match["key"] + newline + rest
