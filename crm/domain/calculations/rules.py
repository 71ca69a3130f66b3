"""Calculation (quote) workflow: statuses, the allowed moves, and what a quote needs to be ready."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum


class CalculationStatus(StrEnum):
    DRAFT = "draft"
    READY = "ready"
    CONFIRMED = "confirmed"
    ARCHIVED = "archived"


# The only moves the old service allowed; nothing goes back, and a draft is not archived directly.
TRANSITIONS: Mapping[CalculationStatus, frozenset[CalculationStatus]] = {
    CalculationStatus.DRAFT: frozenset({CalculationStatus.READY}),
    CalculationStatus.READY: frozenset({CalculationStatus.CONFIRMED, CalculationStatus.ARCHIVED}),
    CalculationStatus.CONFIRMED: frozenset({CalculationStatus.ARCHIVED}),
    CalculationStatus.ARCHIVED: frozenset(),
}

# A confirmed quote is what the client accepted; an archived one is history. Neither may be edited.
READ_ONLY_STATUSES = frozenset({CalculationStatus.CONFIRMED, CalculationStatus.ARCHIVED})

# Checked in this order; the first missing one names the error code.
READY_REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("files", "at least one file is required for a ready calculation"),
    ("program_name", "a program is required for a ready calculation"),
    ("premium_amount", "a premium is required for a ready calculation"),
    ("validity_period", "both validity bounds are required for a ready calculation"),
)


def transition_refusal(current: CalculationStatus, target: CalculationStatus) -> str | None:
    """Why ``current → target`` is not allowed, or ``None`` if it is (staying put is allowed)."""
    if current == target or target in TRANSITIONS[current]:
        return None
    allowed = sorted(TRANSITIONS[current])
    if not allowed:
        return f"an {current} calculation is final"
    return f"a {current} calculation can only become {' or '.join(allowed)}"


def missing_for_ready(
    *,
    files: list[str],
    program_name: str | None,
    premium_amount: Decimal | None,
    validity_start: date | None,
    validity_end: date | None,
) -> list[str]:
    """The fields a calculation lacks to be ``ready``, in ``READY_REQUIREMENTS`` order."""
    present = {
        "files": bool(files),
        "program_name": program_name is not None,
        "premium_amount": premium_amount is not None,
        "validity_period": validity_start is not None and validity_end is not None,
    }
    return [name for name, _ in READY_REQUIREMENTS if not present[name]]
