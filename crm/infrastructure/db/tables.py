"""A table's SQL derived from its SQLAlchemy model, once, at import: the columns a repository serves, what an
``INSERT`` and an ``UPDATE`` may name, and the statements every record shares.

The model (``crm/infrastructure/db/models``) is the one place a column is written down; the migration is
checked against it, and the repositories read their column lists from here. A column the model gains is
served, inserted from the values a use case gives and updatable without touching the repository.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase

_UNMODIFIED = re.compile(r"\(.*?\)")

# Kept by the statements themselves (audit, version, soft delete), never by the values a use case gives.
RECORD_MANAGED = frozenset(
    {
        "id",
        "version",
        "created_at",
        "updated_at",
        "created_by_id",
        "updated_by_id",
        "is_deleted",
        "deleted_at",
        "deleted_by_id",
    }
)


class TableSql:
    """The SQL of one table.

    ``computed`` adds served columns that are SQL expressions (``name -> expression``; the expression may name
    the table's own columns as ``<table>.<column>``, which works in ``SELECT`` and ``RETURNING`` alike).
    ``hidden`` columns are kept for the storage's own use and never served. ``fixed`` columns are set when the
    row is inserted and never updated.
    """

    def __init__(
        self,
        model: type[DeclarativeBase],
        *,
        computed: Mapping[str, str] | None = None,
        hidden: Collection[str] = (),
        fixed: Collection[str] = (),
    ) -> None:
        table = model.__table__
        assert isinstance(table, Table), f"{model.__name__} is not mapped to a table"
        names = [column.name for column in table.columns]
        unknown = (set(hidden) | set(fixed)) - set(names)
        if unknown:
            raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
        self.name = f"{table.schema}.{table.name}"
        self.column_names = frozenset(names)
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        # Without modifiers: a cast to varchar(255) or numeric(14,2) would cut or round silently, where the
        # column's own assignment refuses a value that does not fit.
        self._types = {
            column.name: _UNMODIFIED.sub("", column.type.compile(dialect=dialect)) for column in table.columns
        }
        served = [name for name in names if name not in hidden]
        served += [f"{expression} AS {name}" for name, expression in (computed or {}).items()]
        self.columns = ", ".join(served)
        self.updatable = self.column_names - RECORD_MANAGED - set(fixed) - set(hidden)
        self.select = f"SELECT {self.columns} FROM {self.name}"
        # Soft delete ($2 true) or restore (false) of record $1 by actor $3, bumping the version.
        self.set_deleted = f"""
UPDATE {self.name}
SET is_deleted = $2,
    deleted_at = CASE WHEN $2 THEN now() END,
    deleted_by_id = CASE WHEN $2 THEN $3::uuid END,
    version = version + 1, updated_at = now(), updated_by_id = $3
WHERE id = $1
RETURNING {self.columns}
"""

    def insert(
        self,
        values: Mapping[str, Any],
        *,
        expressions: Mapping[str, str] | None = None,
        guard: tuple[str, str] | None = None,
        on_conflict: str | None = None,
    ) -> tuple[str, list[Any]]:
        """``INSERT`` of ``values`` (column -> value) returning the served columns, and its parameters.

        ``expressions`` gives columns an SQL expression instead of a parameter; ``guard`` is ``(name, query)``:
        the row is inserted once per row the query finds (none: no row is inserted and none returned). In
        both, ``{column}`` stands for that column's parameter. ``on_conflict`` is the action after
        ``ON CONFLICT``, e.g. ``ON CONSTRAINT uq_… DO NOTHING``.
        """
        expressions = expressions or {}
        unknown = (set(values) | set(expressions)) - self.column_names
        if unknown:
            raise ValueError(f"{self.name} has no columns {sorted(unknown)}")
        params = list(values.values())
        placeholder = {name: f"${number}" for number, name in enumerate(values, start=1)}
        row = {**placeholder, **{name: sql.format_map(placeholder) for name, sql in expressions.items()}}
        columns = ", ".join(row)
        if guard is None:
            source = f"VALUES ({', '.join(row.values())})"
            prefix = ""
        else:
            guard_name, guard_query = guard
            source = f"SELECT {', '.join(row.values())} FROM {guard_name}"
            prefix = f"WITH {guard_name} AS ({guard_query.format_map(placeholder)})\n"
        conflict = f"\nON CONFLICT {on_conflict}" if on_conflict else ""
        return f"{prefix}INSERT INTO {self.name} ({columns})\n{source}{conflict}\nRETURNING {self.columns}", params

    def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]]:
        """One ``INSERT`` of many rows (each naming the same columns) from arrays, one per column, returning the
        served columns; and its parameters."""
        names = list(rows[0])
        unknown = set(names) - self.column_names
        if unknown:
            raise ValueError(f"{self.name} has no columns {sorted(unknown)}")
        if any(list(row) != names for row in rows):
            raise ValueError("every row must name the same columns, in the same order")
        arrays = ", ".join(f"${number}::{self._types[name]}[]" for number, name in enumerate(names, start=1))
        params = [[row[name] for row in rows] for name in names]
        statement = (
            f"INSERT INTO {self.name} ({', '.join(names)})\nSELECT * FROM unnest({arrays})\nRETURNING {self.columns}"
        )
        return statement, params

    def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> tuple[str, list[Any]]:
        """``UPDATE`` of the changed columns of one record by ``actor_id``, bumping its version."""
        unknown = set(changes) - self.updatable
        if unknown:
            raise ValueError(f"not updatable in {self.name}: {sorted(unknown)}")
        params: list[Any] = [record_id, actor_id, *changes.values()]
        sets = [f"{column} = ${number}" for number, column in enumerate(changes, start=3)]
        sets += ["version = version + 1", "updated_at = now()", "updated_by_id = $2"]
        return f"UPDATE {self.name} SET {', '.join(sets)} WHERE id = $1 RETURNING {self.columns}", params
