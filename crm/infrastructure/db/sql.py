"""Small helpers for the hand-written SQL of the repositories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from crm.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor

T = TypeVar("T")

# What a repository runs its statements on: a plain connection or one lent by the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def required(row: asyncpg.Record | None) -> asyncpg.Record:
    """A row the statement must have returned (its target is locked by this transaction)."""
    if row is None:
        raise LookupError("the statement returned no row")
    return row


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


@dataclass(frozen=True, slots=True)
class ListOrder:
    """A list's keyset order: columns all ascending or all descending, ending in a unique one."""

    kind: str  # names the list inside its cursors, so a cursor of another list is refused
    columns: tuple[str, ...]
    types: tuple[type, ...]
    descending: bool = False

    @property
    def order_by(self) -> str:
        return ", ".join(f"{c} DESC" if self.descending else c for c in self.columns)

    def after(self, where: Where, cursor: str) -> None:
        """Restrict ``where`` to the rows that come after the one the cursor stands for."""
        key = decode_cursor(self.kind, cursor, self.types)
        placeholders = ", ".join("{}" for _ in key)
        where.add(f"({', '.join(self.columns)}) {'<' if self.descending else '>'} ({placeholders})", *key)

    def cursor_of(self, item: object) -> str:
        return encode_cursor(self.kind, tuple(getattr(item, column) for column in self.columns))


async def fetch_page(
    pool: asyncpg.Pool,
    *,
    source: str,
    columns: str,
    where: Where,
    page: PageRequest,
    order: ListOrder,
    to_model: Callable[[asyncpg.Record], T],
) -> Page[T]:
    """One keyset page of ``SELECT columns FROM source WHERE …`` (plus the count when asked)."""
    total = None
    if page.with_total:
        total = await pool.fetchval(f"SELECT count(*) FROM {source} WHERE {where.sql}", *where.params)
    if page.cursor:
        order.after(where, page.cursor)
    limit = where.param(page.limit + 1)
    rows = await pool.fetch(
        f"SELECT {columns} FROM {source} WHERE {where.sql} ORDER BY {order.order_by} LIMIT {limit}", *where.params
    )
    items = [to_model(row) for row in rows[: page.limit]]
    next_cursor = order.cursor_of(items[-1]) if len(rows) > page.limit else None
    return Page[T](items=items, next_cursor=next_cursor, total=total)
