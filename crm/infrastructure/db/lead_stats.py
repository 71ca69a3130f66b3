"""Distribution statistics in PostgreSQL, through asyncpg.

The period's appeals are read once, as one range of an index on ``created_at``: ``ix_appeals_list_order``
``(created_at, id)``, or ``ix_appeals_source_id`` ``(source_id, created_at, id)`` for one source. Rows outside the
period are never read, so the cost follows the period's appeals, not the table. The other statements read the
directory (operators, sources, weights: as many rows as the broker has staff and channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from crm.domain.leads.stats import OperatorNow, Period, PeriodFigures, SourceNow, Tally
from crm.infrastructure.db.sql import Connection

# GROUPING(source_id, operator_id): 0 a (source, operator) pair, 1 a source, 2 an operator, 3 the whole period.
BY_PAIR, BY_SOURCE, BY_OPERATOR, WHOLE = 0, 1, 2, 3
# Durations are intervals until the end (exact to the microsecond); EXTRACT gives their seconds as numeric.
PERIOD_FIGURES = """
SELECT GROUPING(source_id, operator_id) AS level, source_id, operator_id,
       count(*) AS appeals,
       count(*) FILTER (WHERE status = 'open') AS open,
       count(*) FILTER (WHERE status = 'closed') AS closed,
       count(*) FILTER (WHERE deal_id IS NOT NULL) AS converted,
       count(first_action_at) AS first_actions,
       EXTRACT(EPOCH FROM avg(first_action_at - created_at)) AS first_action_avg,
       EXTRACT(EPOCH FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY first_action_at - created_at))
           AS first_action_p50,
       EXTRACT(EPOCH FROM percentile_cont(0.9) WITHIN GROUP (ORDER BY first_action_at - created_at))
           AS first_action_p90
FROM crm.appeals
WHERE created_at >= $1 AND created_at < $2{source}
GROUP BY GROUPING SETS ((source_id, operator_id), (source_id), (operator_id), ())
"""
ONE_SOURCE = " AND source_id = $3"
# Live operators (with a source: those listed on it) and the holders of the period's appeals.
OPERATORS_NOW = """
SELECT id, name, active, is_deleted, load, max_load FROM crm.operators
WHERE id = ANY($1::uuid[])
   OR (NOT is_deleted AND ($2::uuid IS NULL OR id IN (SELECT operator_id FROM crm.source_weights WHERE source_id = $2)))
ORDER BY name, id
"""
# Live sources (with a source: that one, even deleted) and the sources of the period's appeals.
SOURCES_NOW = """
SELECT id, name, active, is_deleted FROM crm.sources
WHERE CASE WHEN $2::uuid IS NULL THEN NOT is_deleted OR id = ANY($1::uuid[]) ELSE id = $2 END
ORDER BY name, id
"""
WEIGHTS_NOW = "SELECT source_id, operator_id, weight FROM crm.source_weights WHERE source_id = ANY($1::uuid[])"


def period_figures_sql(*, one_source: bool) -> str:
    """The statement over the period's appeals: ``$1`` from, ``$2`` to, and ``$3`` the source when ``one_source``."""
    return PERIOD_FIGURES.format(source=ONE_SOURCE if one_source else "")


def _tally(row: asyncpg.Record) -> Tally:
    return Tally(
        appeals=row["appeals"],
        open=row["open"],
        closed=row["closed"],
        converted=row["converted"],
        first_actions=row["first_actions"],
        first_action_avg=row["first_action_avg"],
        first_action_p50=row["first_action_p50"],
        first_action_p90=row["first_action_p90"],
    )


class PgDistributionReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def figures(self, period: Period, source_id: UUID | None) -> PeriodFigures | None:
        # One snapshot: the loads and weights are those of the moment the period's appeals were counted.
        async with self._pool.acquire() as connection:
            snapshot = connection.transaction(isolation="repeatable_read", readonly=True)
            async with snapshot:
                return await self._read(connection, period, source_id)

    @staticmethod
    async def _read(connection: Connection, period: Period, source_id: UUID | None) -> PeriodFigures | None:
        if source_id is None:
            rows = await connection.fetch(period_figures_sql(one_source=False), period.start, period.end)
        else:
            rows = await connection.fetch(period_figures_sql(one_source=True), period.start, period.end, source_id)
        total = Tally()
        by_operator: dict[UUID | None, Tally] = {}
        by_source: dict[UUID, Tally] = {}
        by_pair: dict[tuple[UUID, UUID | None], int] = {}
        for row in rows:
            level = row["level"]
            if level == WHOLE:
                total = _tally(row)
            elif level == BY_OPERATOR:
                by_operator[row["operator_id"]] = _tally(row)
            elif level == BY_SOURCE:
                by_source[row["source_id"]] = _tally(row)
            else:
                by_pair[(row["source_id"], row["operator_id"])] = row["appeals"]
        holders = [operator_id for operator_id in by_operator if operator_id is not None]
        sources = await _sources(connection, list(by_source), source_id)
        if source_id is not None and not sources:
            return None
        operators = await connection.fetch(OPERATORS_NOW, holders, source_id)
        return PeriodFigures(
            total=total,
            by_operator=by_operator,
            by_source=by_source,
            by_source_operator=by_pair,
            operators=[
                OperatorNow(row["id"], row["name"], row["active"], row["is_deleted"], row["load"], row["max_load"])
                for row in operators
            ],
            sources=sources,
        )


async def _sources(connection: Connection, period_sources: Sequence[UUID], source_id: UUID | None) -> list[SourceNow]:
    rows = await connection.fetch(SOURCES_NOW, period_sources, source_id)
    weights: dict[UUID, dict[UUID, int]] = {row["id"]: {} for row in rows}
    for weight in await connection.fetch(WEIGHTS_NOW, list(weights)):
        weights[weight["source_id"]][weight["operator_id"]] = weight["weight"]
    return [SourceNow(row["id"], row["name"], row["active"], row["is_deleted"], weights[row["id"]]) for row in rows]
