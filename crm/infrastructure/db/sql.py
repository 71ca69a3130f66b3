"""Small helpers for the hand-written SQL of the repositories."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What a repository runs its statements on: a plain connection or one lent by the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

RECORD_COLUMNS = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "created_by_id",
    "updated_by_id",
    "is_deleted",
    "deleted_at",
    "deleted_by_id",
)


def required(row: asyncpg.Record | None) -> asyncpg.Record:
    """A row the statement must have returned (its target is locked by this transaction)."""
    if row is None:
        raise LookupError("the statement returned no row")
    return row


def column_list(columns: Iterable[str]) -> str:
    return ", ".join(columns)


class Where:
    """Collects ``AND``-ed conditions with numbered parameters (``{}`` stands for the next one)."""

    def __init__(self, *fixed: str) -> None:
        self.conditions: list[str] = list(fixed)
        self.params: list[Any] = []

    def add(self, template: str, *values: Any) -> None:
        placeholders = []
        for value in values:
            self.params.append(value)
            placeholders.append(f"${len(self.params)}")
        self.conditions.append(template.format(*placeholders))

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "TRUE"


def contains_pattern(term: str) -> str:
    """An ILIKE pattern matching ``term`` anywhere, with its own wildcards taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def update_statement(
    table: str, changes: Mapping[str, Any], allowed: frozenset[str], returning: str
) -> tuple[str, list[Any]]:
    """``UPDATE`` of the given columns plus the audit ones; ``$1`` is the id, the last is the actor."""
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not updatable in {table}: {sorted(unknown)}")
    params: list[Any] = [None]
    sets = []
    for column, value in changes.items():
        params.append(value)
        sets.append(f"{column} = ${len(params)}")
    params.append(None)
    actor = f"${len(params)}"
    sets += ["version = version + 1", "updated_at = now()", f"updated_by_id = {actor}"]
    return f"UPDATE {table} SET {', '.join(sets)} WHERE id = $1 RETURNING {returning}", params
