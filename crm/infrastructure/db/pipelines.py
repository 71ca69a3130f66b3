"""Pipelines and their stages in PostgreSQL, through asyncpg.

A pipeline is served with its live stages in order (one subquery of the same statement). Whoever changes a
pipeline or its stages locks its row ``FOR UPDATE`` first; whoever puts a deal in one of its stages holds its row
``FOR KEY SHARE`` (``lock_for_deals``) — the lock the deal's foreign key takes on it anyway, so deals moving in
never wait on each other, only on a change of the pipeline. Both lock first and read in a statement of their own
afterwards, so what they read is what stands once the lock is theirs (a pipeline deleted meanwhile is not found).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from crm.domain.access import EVERYTHING
from crm.domain.pagination import Page
from crm.domain.pipelines.schemas import Pipeline, PipelineFilter, Stage
from crm.infrastructure.db.models import PipelineRow, PipelineStageRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern, required
from crm.infrastructure.db.tables import TableSql

STAGE_FIELDS = tuple(Stage.model_fields)
STAGE_COLUMNS = ", ".join(STAGE_FIELDS)
_STAGE_JSON = ", ".join(f"'{name}', s.{name}" for name in STAGE_FIELDS)
STAGES_OF_PIPELINE = f"""(
    SELECT coalesce(json_agg(json_build_object({_STAGE_JSON}) ORDER BY s.position), '[]'::json)
    FROM crm.pipeline_stages s WHERE s.pipeline_id = pipelines.id AND NOT s.is_deleted
)"""
PIPELINES = TableSql(PipelineRow, computed={"stages": STAGES_OF_PIPELINE})
STAGES = TableSql(PipelineStageRow)
ORDER = ListOrder("pipelines", ("name", "id"), (str, UUID))

LOCK = "SELECT id FROM crm.pipelines WHERE id = $1 FOR UPDATE"
LOCK_LIVE_SHARED = "SELECT id FROM crm.pipelines WHERE id = $1 AND NOT is_deleted FOR KEY SHARE"
LOCK_DEFAULT_SHARED = "SELECT id FROM crm.pipelines WHERE is_default AND NOT is_deleted FOR KEY SHARE"
INSERT_STAGES = f"""
INSERT INTO crm.pipeline_stages (id, pipeline_id, key, name, kind, probability, sla_days, position)
SELECT given.id, $1, given.key, given.name, given.kind, given.probability, given.sla_days,
       (SELECT count(*) FROM crm.pipeline_stages WHERE pipeline_id = $1 AND NOT is_deleted) + given.n - 1
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::int[])
    WITH ORDINALITY AS given (id, key, name, kind, probability, sla_days, n)
RETURNING {STAGE_COLUMNS}
"""
# Live stages numbered 0.. in their order (``ranked`` gives the order: the current one, or a new one).
RENUMBER = """
UPDATE crm.pipeline_stages s SET position = ranked.position, updated_at = now()
FROM (SELECT id, row_number() OVER (ORDER BY {order}) - 1 AS position
      FROM crm.pipeline_stages WHERE pipeline_id = $1 AND NOT is_deleted) AS ranked
WHERE s.id = ranked.id AND s.position IS DISTINCT FROM ranked.position
"""
RENUMBER_IN_ORDER = RENUMBER.format(order="position, id")
RENUMBER_AS_LISTED = RENUMBER.format(order="array_position($2::uuid[], id)")
COUNT_LIVE_DEALS = "SELECT count(*) FROM crm.deals WHERE pipeline_id = $1 AND NOT is_deleted"
COUNT_LIVE_DEALS_IN_STAGE = "SELECT count(*) FROM crm.deals WHERE stage_id = $1 AND NOT is_deleted"
DROP_DEFAULT = """
UPDATE crm.pipelines SET is_default = false, version = version + 1, updated_at = now(), updated_by_id = $2
WHERE is_default AND NOT is_deleted AND id <> $1
RETURNING id
"""
STAGE_KEYS = """
SELECT DISTINCT s.key FROM crm.pipeline_stages s JOIN crm.pipelines p ON p.id = s.pipeline_id
WHERE s.key = ANY($1::text[]) AND NOT s.is_deleted AND NOT p.is_deleted AND ($2::uuid IS NULL OR p.id = $2)
"""


def _pipeline(row: asyncpg.Record) -> Pipeline:
    values = dict(row)
    values["lost_reasons"] = json.loads(values["lost_reasons"])
    values["stages"] = json.loads(values["stages"])
    return Pipeline.model_validate(values)


def _stage(row: asyncpg.Record) -> Stage:
    return Stage.model_validate(dict(row))


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: json.dumps(value) if name == "lost_reasons" else value for name, value in values.items()}


class PgPipelineRepository(RecordRepository[Pipeline]):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, PIPELINES, _pipeline)

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> Pipeline:
        return await super().add(record_id, _stored(values), actor_id)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> Pipeline:
        return await super().update(record_id, _stored(changes), actor_id)

    async def get_for_update(self, record_id: UUID) -> Pipeline | None:
        if await self._conn.fetchval(LOCK, record_id) is None:
            return None
        return await self._read(record_id)

    async def lock_for_deals(self, pipeline_id: UUID | None) -> Pipeline | None:
        if pipeline_id is not None:
            locked = await self._conn.fetchval(LOCK_LIVE_SHARED, pipeline_id)
        else:
            locked = await self._conn.fetchval(LOCK_DEFAULT_SHARED)
            if locked is None:
                # The default moved to another pipeline while this waited for it: that one is the default now.
                locked = await self._conn.fetchval(LOCK_DEFAULT_SHARED)
        return None if locked is None else await self._read(locked)

    async def stage_of_any(self, stage_id: UUID) -> Stage | None:
        row = await self._conn.fetchrow(f"SELECT {STAGE_COLUMNS} FROM crm.pipeline_stages WHERE id = $1", stage_id)
        return None if row is None else _stage(row)

    async def removed_stage(self, pipeline_id: UUID, stage_id: UUID) -> Stage | None:
        row = await self._conn.fetchrow(
            f"SELECT {STAGE_COLUMNS} FROM crm.pipeline_stages WHERE id = $1 AND pipeline_id = $2 AND is_deleted",
            stage_id,
            pipeline_id,
        )
        return None if row is None else _stage(row)

    async def add_stages(self, pipeline_id: UUID, stages: Sequence[Mapping[str, Any]]) -> list[Stage]:
        rows = await self._conn.fetch(
            INSERT_STAGES,
            pipeline_id,
            [uuid4() for _ in stages],
            *([stage[name] for stage in stages] for name in ("key", "name", "kind", "probability", "sla_days")),
        )
        return sorted((_stage(row) for row in rows), key=lambda stage: stage.position)

    async def update_stage(self, stage_id: UUID, changes: Mapping[str, Any]) -> Stage:
        unknown = set(changes) - STAGES.updatable
        if unknown:
            raise ValueError(f"not updatable in {STAGES.name}: {sorted(unknown)}")
        sets = [f"{column} = ${number}" for number, column in enumerate(changes, start=2)]
        row = await self._conn.fetchrow(
            f"UPDATE crm.pipeline_stages SET {', '.join(sets)}, updated_at = now() WHERE id = $1 "
            f"RETURNING {STAGE_COLUMNS}",
            stage_id,
            *changes.values(),
        )
        return _stage(required(row))

    async def remove_stage(self, stage_id: UUID) -> None:
        pipeline_id = await self._conn.fetchval(
            "UPDATE crm.pipeline_stages SET is_deleted = true, deleted_at = now(), updated_at = now() WHERE id = $1 "
            "RETURNING pipeline_id",
            stage_id,
        )
        await self._conn.execute(RENUMBER_IN_ORDER, pipeline_id)

    async def restore_stage(self, stage_id: UUID) -> Stage:
        row = await self._conn.fetchrow(
            "UPDATE crm.pipeline_stages SET is_deleted = false, deleted_at = NULL, updated_at = now(), "
            "position = (SELECT count(*) FROM crm.pipeline_stages o "
            "            WHERE o.pipeline_id = pipeline_stages.pipeline_id AND NOT o.is_deleted) "
            f"WHERE id = $1 RETURNING {STAGE_COLUMNS}",
            stage_id,
        )
        return _stage(required(row))

    async def reorder(self, pipeline_id: UUID, stage_ids: Sequence[UUID]) -> None:
        await self._conn.execute(RENUMBER_AS_LISTED, pipeline_id, list(stage_ids))

    async def touch(self, pipeline_id: UUID, actor_id: UUID | None) -> Pipeline:
        return await super().update(pipeline_id, {}, actor_id)

    async def count_live_deals(self, pipeline_id: UUID, stage_id: UUID | None = None) -> int:
        if stage_id is None:
            return int(await self._conn.fetchval(COUNT_LIVE_DEALS, pipeline_id))
        return int(await self._conn.fetchval(COUNT_LIVE_DEALS_IN_STAGE, stage_id))

    async def drop_default(self, keep: UUID, actor_id: UUID | None) -> Pipeline | None:
        dropped = await self._conn.fetchval(DROP_DEFAULT, keep, actor_id)
        return None if dropped is None else await self._read(dropped)

    async def _read(self, pipeline_id: UUID) -> Pipeline:
        return _pipeline(required(await self._conn.fetchrow(f"{PIPELINES.select} WHERE id = $1", pipeline_id)))


class PgPipelineReader(RecordReader[Pipeline]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, PIPELINES, _pipeline, ORDER)

    async def get(self, pipeline_id: UUID) -> Pipeline | None:  # type: ignore[override]
        return await super().get(pipeline_id, EVERYTHING)

    async def default(self) -> Pipeline | None:
        row = await self._pool.fetchrow(f"{PIPELINES.select} WHERE is_default AND NOT is_deleted")
        return None if row is None else _pipeline(row)

    async def page(self, query: PipelineFilter) -> Page[Pipeline]:
        where = Where("NOT is_deleted")
        if query.search:
            where.add("name ILIKE {}", contains_pattern(query.search))
        return await self._page(where, query.page, EVERYTHING)

    async def stage_keys(self, keys: Sequence[str], pipeline_id: UUID | None) -> set[str]:
        return {row["key"] for row in await self._pool.fetch(STAGE_KEYS, list(keys), pipeline_id)}
