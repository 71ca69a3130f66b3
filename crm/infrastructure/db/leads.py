"""Lead intake's directory in PostgreSQL, through asyncpg: operators (and their load), sources and each source's
weights."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.access import EVERYTHING
from crm.domain.leads.distribution import Candidate
from crm.domain.leads.repository import Room
from crm.domain.leads.schemas import Operator, OperatorFilter, Source, SourceFilter, SourceWeight
from crm.domain.pagination import Page
from crm.infrastructure.db.models import OperatorRow, SourceRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern
from crm.infrastructure.db.tables import TableSql

# ``load`` is kept by the slot statements below, never by an insert's values or a PATCH.
OPERATORS = TableSql(OperatorRow, fixed=("load",))
SOURCES = TableSql(SourceRow)
# Directories read alphabetically.
OPERATOR_ORDER = ListOrder("operators", ("name", "id"), (str, UUID))
SOURCE_ORDER = ListOrder("sources", ("name", "id"), (str, UUID))
JSON_COLUMNS = ("working_hours", "absences")

# The weights of live operators only: a deleted operator's rows stay, so a restore brings them back.
WEIGHTS = """
SELECT w.operator_id, w.weight
FROM crm.source_weights w JOIN crm.operators o ON o.id = w.operator_id AND NOT o.is_deleted
WHERE w.source_id = $1
ORDER BY w.operator_id
"""
LIVE_SOURCE_WEIGHTS = """
SELECT w.operator_id, w.weight
FROM crm.sources s
LEFT JOIN (crm.source_weights w JOIN crm.operators o ON o.id = w.operator_id AND NOT o.is_deleted)
    ON w.source_id = s.id
WHERE s.id = $1 AND NOT s.is_deleted
ORDER BY w.operator_id
"""
LOCK_LIVE_OPERATORS = """
SELECT id FROM crm.operators WHERE id = ANY($1::uuid[]) AND NOT is_deleted ORDER BY id FOR KEY SHARE
"""
# The slot statements: the only ones that change an operator's load. A take re-checks its condition on the row it
# locks (READ COMMITTED re-evaluates an UPDATE's WHERE on the latest row version), so two processes taking the last
# slot of one operator at once: one gets it, the other finds no row and plans again. Rows are locked FOR NO KEY
# UPDATE, as an UPDATE of these columns locks them: a weights replacement's FOR KEY SHARE never waits on them.
TAKE_SLOT_OF = """
UPDATE crm.operators SET load = load + 1
WHERE id = {operator} AND load < max_load AND active AND NOT is_deleted
RETURNING id
"""
TAKE_SLOT = TAKE_SLOT_OF.format(operator="$1")
TAKE_SLOTS = "UPDATE crm.operators SET load = load + $2 WHERE id = $1"
RELEASE_SLOT = "UPDATE crm.operators SET load = load - 1 WHERE id = $1"
ROOM = """
SELECT id, active, max_load, load, working_hours, absences
FROM crm.operators WHERE id = $1 AND NOT is_deleted FOR NO KEY UPDATE
"""
LOCK_IN_ORDER = """
SELECT {columns} FROM crm.operators WHERE id = ANY($1::uuid[]) AND NOT is_deleted ORDER BY id FOR NO KEY UPDATE
"""
INSERT_WEIGHTS = """
INSERT INTO crm.source_weights (source_id, operator_id, weight, updated_by_id)
SELECT $1, operator_id, weight, $4 FROM unnest($2::uuid[], $3::int[]) AS given (operator_id, weight)
"""


def _operator(row: asyncpg.Record) -> Operator:
    values = dict(row)
    for column in JSON_COLUMNS:
        if values[column] is not None:
            values[column] = json.loads(values[column])
    return Operator.model_validate(values)


def candidate_of(row: asyncpg.Record, *, weight: int) -> Candidate:
    """A distribution candidate from an operator row (JSON columns as text, as asyncpg returns them)."""
    hours = row["working_hours"]
    absences = row["absences"]
    return Candidate(
        operator_id=row["id"],
        weight=weight,
        load=row["load"],
        max_load=row["max_load"],
        active=row["active"],
        working_hours=json.loads(hours) if isinstance(hours, str) else hours,
        absences=json.loads(absences) if isinstance(absences, str) else absences,
    )


def _source(row: asyncpg.Record) -> Source:
    return Source.model_validate(dict(row))


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON columns as JSON text (SQL NULL for none); the rest as given."""
    return {
        name: (None if value is None else json.dumps(value)) if name in JSON_COLUMNS else value
        for name, value in values.items()
    }


class PgOperatorRepository(RecordRepository[Operator]):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, OPERATORS, _operator)

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> Operator:
        return await super().add(record_id, _stored(values), actor_id)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> Operator:
        return await super().update(record_id, _stored(changes), actor_id)

    async def take(self, operator_id: UUID) -> bool:
        return await self._conn.fetchval(TAKE_SLOT, operator_id) is not None

    async def take_many(self, operator_id: UUID, count: int) -> None:
        await self._conn.execute(TAKE_SLOTS, operator_id, count)

    async def release(self, operator_id: UUID) -> None:
        await self._conn.execute(RELEASE_SLOT, operator_id)

    async def room(self, operator_id: UUID) -> Room | None:
        row = await self._conn.fetchrow(ROOM, operator_id)
        return None if row is None else Room(candidate_of(row, weight=0))

    async def lock_in_order(self, operator_ids: Sequence[UUID]) -> dict[UUID, Operator]:
        rows = await self._conn.fetch(LOCK_IN_ORDER.format(columns=OPERATORS.columns), list(operator_ids))
        return {row["id"]: _operator(row) for row in rows}

    async def lock_live(self, operator_ids: Sequence[UUID]) -> set[UUID]:
        # Locked in id order, so two replacements naming the same operators cannot deadlock; FOR KEY SHARE keeps
        # them from being deleted meanwhile without blocking a change of their other columns.
        rows = await self._conn.fetch(LOCK_LIVE_OPERATORS, list(operator_ids))
        return {row["id"] for row in rows}


class PgSourceRepository(RecordRepository[Source]):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, SOURCES, _source)

    async def replace_weights(self, source_id: UUID, weights: Sequence[SourceWeight], actor_id: UUID | None) -> None:
        await self._conn.execute("DELETE FROM crm.source_weights WHERE source_id = $1", source_id)
        if weights:
            await self._conn.execute(
                INSERT_WEIGHTS,
                source_id,
                [weight.operator_id for weight in weights],
                [weight.weight for weight in weights],
                actor_id,
            )

    async def weights(self, source_id: UUID) -> list[SourceWeight]:
        return [SourceWeight.model_validate(dict(row)) for row in await self._conn.fetch(WEIGHTS, source_id)]


class PgOperatorReader(RecordReader[Operator]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, OPERATORS, _operator, OPERATOR_ORDER)

    async def get(self, operator_id: UUID) -> Operator | None:  # type: ignore[override]
        return await super().get(operator_id, EVERYTHING)

    async def page(self, query: OperatorFilter) -> Page[Operator]:
        where = Where("NOT is_deleted")
        if query.active is not None:
            where.add("active = {}", query.active)
        if query.search:
            where.add("name ILIKE {}", contains_pattern(query.search))
        return await self._page(where, query.page, EVERYTHING)


class PgSourceReader(RecordReader[Source]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, SOURCES, _source, SOURCE_ORDER)

    async def get(self, source_id: UUID) -> Source | None:  # type: ignore[override]
        return await super().get(source_id, EVERYTHING)

    async def page(self, query: SourceFilter) -> Page[Source]:
        where = Where("NOT is_deleted")
        if query.active is not None:
            where.add("active = {}", query.active)
        if query.channel is not None:
            where.add("channel = {}", query.channel.value)
        if query.search:
            where.add("name ILIKE {}", contains_pattern(query.search))
        return await self._page(where, query.page, EVERYTHING)

    async def weights(self, source_id: UUID) -> list[SourceWeight] | None:
        """One statement: no row means no live source; a row without an operator, a source without weights."""
        rows = await self._pool.fetch(LIVE_SOURCE_WEIGHTS, source_id)
        if not rows:
            return None
        return [
            SourceWeight(operator_id=row["operator_id"], weight=row["weight"])
            for row in rows
            if row["operator_id"] is not None
        ]
