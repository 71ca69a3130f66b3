"""The rules of automation that are plain functions: whether an event's data passes a rule's tests, an event's
occasion key, and when a firing would be a loop. A time occasion's key is SQL (crm.infrastructure.db.automation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from crm.domain.automation.schemas import DataCondition

# A chain of firings (a rule's action causing an event that fires a rule, …) longer than this is stopped even
# when no rule repeats in it.
MAX_CASCADE = 8
_MISSING = object()


def _at(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, int | float | Decimal | str) else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def _same(left: Any, right: Any) -> bool:
    """Equal as the JSON means it: two texts as texts; a number and a number (or a number's text, as money is
    served) as decimals, so ``"1000.00"`` equals ``1000``; the rest as is."""
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return bool(left == right)


def _key(value: Any) -> tuple[int, Any] | None:
    """An ordered comparison's key: decimals first, then ISO dates and times, then text."""
    number = _number(value)
    if number is not None:
        return (0, number)
    if isinstance(value, str):
        for parse in (datetime.fromisoformat, date.fromisoformat):
            try:
                parsed = parse(value)
            except ValueError:
                continue
            return (1, parsed.isoformat())
        return (2, value)
    return None


def passes(condition: DataCondition, data: Mapping[str, Any]) -> bool:
    """Whether ``data`` passes ``condition``. A missing field passes only ``absent`` and ``ne``/``not_in``."""
    value = _at(data, condition.path)
    present = value is not _MISSING and value is not None
    match condition.op:
        case "exists":
            return present
        case "absent":
            return not present
        case "eq":
            return value is not _MISSING and _same(value, condition.value)
        case "ne":
            return value is _MISSING or not _same(value, condition.value)
        case "in" | "not_in":
            assert isinstance(condition.value, list)
            found = value is not _MISSING and any(_same(value, wanted) for wanted in condition.value)
            return found if condition.op == "in" else not found
    left, right = _key(value) if present else None, _key(condition.value)
    if left is None or right is None or left[0] != right[0]:
        return False
    match condition.op:
        case "gt":
            return bool(left[1] > right[1])
        case "gte":
            return bool(left[1] >= right[1])
        case "lt":
            return bool(left[1] < right[1])
    return bool(left[1] <= right[1])


def passes_all(conditions: Sequence[DataCondition], data: Mapping[str, Any]) -> bool:
    return all(passes(condition, data) for condition in conditions)


def is_loop(rule_id: UUID, cause: Sequence[UUID]) -> bool:
    """Whether firing ``rule_id`` on an occasion ``cause`` led to would be a loop: the rule is among the firings
    that caused it (it would re-trigger itself, directly or through other rules), or the chain is too long."""
    return rule_id in cause or len(cause) >= MAX_CASCADE


def event_occasion(event_id: UUID) -> str:
    return f"event:{event_id}"
