"""Optimistic concurrency and partial updates, the same for every module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from crm.domain.errors import FieldProblem, PreconditionFailed, RuleViolation


def check_version(current: int, expected: int | None) -> None:
    """``expected`` comes from ``If-Match``; ``None`` means the caller did not ask for a check."""
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"The record is at version {current}, not {expected}; reload it and try again.",
            current_version=current,
        )


def requested_changes(patch: BaseModel, not_nullable: Iterable[str]) -> dict[str, Any]:
    """The fields a PATCH body names, refusing ``null`` for the ones that cannot be cleared."""
    changes = patch.model_dump(exclude_unset=True)
    nulls = [name for name in not_nullable if name in changes and changes[name] is None]
    if nulls:
        raise RuleViolation(
            "Some fields cannot be cleared.",
            errors=[FieldProblem(name, "may be changed but not set to null") for name in sorted(nulls)],
        )
    return changes


def effective_changes(current: BaseModel, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Only the changes that differ from the stored values; an empty dict means nothing to do."""
    return {name: value for name, value in changes.items() if getattr(current, name) != value}
