"""The one place that says what time and what business day it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """``now`` is an aware UTC instant; ``today`` is the calendar day in the business time zone."""

    zone: ZoneInfo
    source: Callable[[], datetime] = field(default=_utc_now)

    def now(self) -> datetime:
        return self.source()

    def local_now(self) -> datetime:
        """Now on the business time zone's clock: what a person reading a message expects to see."""
        return self.now().astimezone(self.zone)

    def today(self) -> date:
        return self.local_now().date()
