"""Analytics in PostgreSQL, through asyncpg: every figure is one or two aggregate statements over the deals in
scope, read in one snapshot.

The deals in scope are the deal list's: ``deal_conditions`` (live, the pipeline, the owner) and the list's access
rule (``GUARD.sees``), so a seller's figures count what their deal list shows. What hangs off a deal is joined
through ``deal_id IN (<those deals>)``, which PostgreSQL hashes once per statement.

Indexes that carry the periods (migration 0016): ``ix_deals_pipeline_id_created_at`` (the funnel's cohort),
``ix_deals_closed_at`` (cycle time, performance), ``ix_deal_stage_history_from_pipeline_id_at`` (time in stage,
covering the columns it reads), ``ix_payment_incomes_posted_at`` (income). Durations are intervals (exact to the
microsecond) handed to ``percentile_cont``, whose seconds ``EXTRACT`` gives as numeric.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.analytics.repository import (
    CohortCount,
    DurationFigures,
    ForecastCell,
    ForecastFigures,
    IncomeCell,
    IncomeFigures,
    Instants,
    Outcomes,
    OverdueCell,
    PerformanceFigures,
    Scope,
    StageTimeFigures,
)
from crm.domain.deals.schemas import DealFilter
from crm.domain.pipelines.rules import StageKind
from crm.infrastructure.db.deals import GUARD, deal_conditions
from crm.infrastructure.db.payments import PLANNED_PAYMENTS, status_sql
from crm.infrastructure.db.sql import Connection, Where


def scoped_deals(scope: Scope) -> Where:
    """The conditions on ``crm.deals`` (unaliased) selecting the deals in scope; more may be added."""
    where = deal_conditions(
        DealFilter(
            owner_ids=frozenset() if scope.owner_id is None else frozenset({scope.owner_id}),
            pipeline_id=scope.pipeline_id,
        )
    )
    GUARD.sees(scope.access, where)
    return where


def _percentiles(expression: str) -> str:
    return (
        f"count(*) AS count, "
        f"EXTRACT(EPOCH FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY {expression})) AS median, "
        f"EXTRACT(EPOCH FROM percentile_cont(0.9) WITHIN GROUP (ORDER BY {expression})) AS p90"
    )


# The furthest of the pipeline's open and won stages each deal of the cohort entered (lost stages are no step of
# the funnel), and the stage it stands in now.
FUNNEL = """
WITH cohort AS (
    SELECT id, stage_id FROM crm.deals WHERE {where}
),
steps AS (
    SELECT id, position FROM crm.pipeline_stages WHERE pipeline_id = {pipeline} AND NOT is_deleted AND kind <> 'lost'
),
furthest AS (
    SELECT h.deal_id, max(steps.position) AS furthest
    FROM crm.deal_stage_history h JOIN steps ON steps.id = h.to_stage_id
    WHERE h.deal_id IN (SELECT id FROM cohort)
    GROUP BY h.deal_id
)
SELECT f.furthest, c.stage_id, count(*) AS deals
FROM cohort c LEFT JOIN furthest f ON f.deal_id = c.id
GROUP BY f.furthest, c.stage_id
"""
TIME_IN_STAGE = f"""
SELECT h.from_stage_id AS stage_id, {_percentiles("h.seconds_in_previous * interval '1 second'")}
FROM (SELECT id FROM crm.deals WHERE {{where}}) d
JOIN crm.deal_stage_history h ON h.deal_id = d.id
WHERE h.from_pipeline_id = {{pipeline}} AND h.at >= {{start}} AND h.at < {{end}}
  AND h.seconds_in_previous IS NOT NULL
GROUP BY h.from_stage_id
"""
CYCLE_TIME = f"""
SELECT GROUPING(s.kind) = 1 AS whole, s.kind, {_percentiles("d.closed_at - d.created_at")}
FROM (SELECT stage_id, created_at, closed_at FROM crm.deals WHERE {{where}}) d
JOIN crm.pipeline_stages s ON s.id = d.stage_id AND s.kind <> 'open'
GROUP BY GROUPING SETS ((s.kind), ())
"""
OPEN_DEALS = """
SELECT d.id, s.probability
FROM (SELECT id, stage_id FROM crm.deals WHERE {where}) d
JOIN crm.pipeline_stages s ON s.id = d.stage_id AND s.kind = 'open'
"""
# An open deal's expected closing is its first planned payment; its value, its planned payments by currency.
FORECAST = f"""
WITH open_deals AS ({OPEN_DEALS}),
planned AS (
    SELECT p.deal_id, p.currency, sum(p.planned_amount) AS value, min(p.planned_date) AS first_date
    FROM ({PLANNED_PAYMENTS}) p
    WHERE p.deal_id IN (SELECT id FROM open_deals)
    GROUP BY p.deal_id, p.currency
),
closing AS (
    SELECT deal_id, min(first_date) AS closes_on FROM planned GROUP BY deal_id
)
SELECT date_trunc('month', c.closes_on)::date AS month, v.currency, count(*) AS deals, sum(v.value) AS value,
       sum(v.value * o.probability) AS value_times_percent
FROM planned v JOIN closing c ON c.deal_id = v.deal_id JOIN open_deals o ON o.id = v.deal_id
WHERE c.closes_on >= {{start}} AND c.closes_on < {{end}}
GROUP BY 1, 2
"""
OPEN_COUNTS = f"""
WITH open_deals AS ({OPEN_DEALS})
SELECT count(*) AS open_deals,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ({PLANNED_PAYMENTS}) p WHERE p.deal_id = o.id))
           AS without_value
FROM open_deals o
"""
# Closed deals: standing in a won or lost stage, closed within the period. An insurer took part in a closed deal
# when the deal has a live calculation of it, and won it when one of those became a live policy of the won deal.
PERFORMANCE = f"""
WITH closed AS (
    SELECT d.id, d.owner_id, s.kind = 'won' AS won
    FROM (SELECT id, owner_id, stage_id FROM crm.deals WHERE {{where}}) d
    JOIN crm.pipeline_stages s ON s.id = d.stage_id AND s.kind <> 'open'
),
planned AS (
    SELECT p.* FROM ({PLANNED_PAYMENTS}) p WHERE p.deal_id IN (SELECT id FROM closed)
),
quotes AS (
    SELECT DISTINCT c.deal_id, c.insurance_company AS insurer
    FROM crm.calculations c WHERE NOT c.is_deleted AND c.deal_id IN (SELECT id FROM closed)
),
winners AS (
    SELECT DISTINCT c.deal_id, c.insurance_company AS insurer, c.linked_policy_id AS policy_id
    FROM closed
    JOIN crm.calculations c ON c.deal_id = closed.id AND NOT c.is_deleted
    JOIN crm.policies po ON po.id = c.linked_policy_id AND NOT po.is_deleted
    WHERE closed.won
)
SELECT 'owner' AS level, owner_id::text AS key, won, NULL AS currency, count(*) AS deals, NULL::numeric AS value
FROM closed GROUP BY owner_id, won
UNION ALL
SELECT 'owner', closed.owner_id::text, closed.won, p.currency, NULL, sum(p.planned_amount)
FROM closed JOIN planned p ON p.deal_id = closed.id GROUP BY closed.owner_id, closed.won, p.currency
UNION ALL
SELECT 'insurer', q.insurer, w.deal_id IS NOT NULL, NULL, count(*), NULL
FROM quotes q LEFT JOIN (SELECT DISTINCT deal_id, insurer FROM winners) w
  ON w.deal_id = q.deal_id AND w.insurer = q.insurer
GROUP BY q.insurer, w.deal_id IS NOT NULL
UNION ALL
SELECT 'insurer', w.insurer, true, p.currency, NULL, sum(p.planned_amount)
FROM winners w JOIN planned p ON p.policy_id = w.policy_id GROUP BY w.insurer, p.currency
"""
INCOME = """
SELECT date_trunc('month', i.posted_at)::date AS month, i.currency,
       coalesce(sum(i.amount) FILTER (WHERE i.category = 'premium'), 0) AS premium,
       coalesce(sum(i.amount) FILTER (WHERE i.category = 'commission'), 0) AS commission,
       coalesce(sum(i.amount) FILTER (WHERE i.category NOT IN ('premium', 'commission')), 0) AS other
FROM (SELECT id FROM crm.deals WHERE {where}) d
JOIN crm.policies po ON po.deal_id = d.id AND NOT po.is_deleted
JOIN crm.payments pay ON pay.policy_id = po.id AND NOT pay.is_deleted
JOIN crm.payment_incomes i ON i.payment_id = pay.id
WHERE NOT i.is_deleted AND i.posted_at >= {start} AND i.posted_at < {end}
GROUP BY 1, 2
"""
OVERDUE = """
SELECT pay.currency, count(*) AS instalments, sum(pay.planned_amount - pay.incomes_total) AS outstanding,
       min(pay.planned_date) AS oldest_planned_date
FROM (SELECT id FROM crm.deals WHERE {where}) d
JOIN crm.policies po ON po.deal_id = d.id AND NOT po.is_deleted
JOIN crm.payments pay ON pay.policy_id = po.id
WHERE NOT pay.is_deleted AND {overdue} = 'overdue'
GROUP BY pay.currency
"""


def _durations(row: asyncpg.Record) -> DurationFigures:
    return DurationFigures(count=row["count"], median=row["median"], p90=row["p90"])


class PgAnalyticsReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def funnel(self, scope: Scope, period: Instants) -> list[CohortCount]:
        where = scoped_deals(scope)
        where.add("created_at >= {}", period.start)
        where.add("created_at < {}", period.end)
        pipeline = where.param(scope.pipeline_id)
        async with self._snapshot() as connection:
            rows = await connection.fetch(FUNNEL.format(where=where.sql, pipeline=pipeline), *where.params)
        return [CohortCount(row["furthest"], row["stage_id"], row["deals"]) for row in rows]

    async def stage_times(self, scope: Scope, period: Instants) -> StageTimeFigures:
        async with self._snapshot() as connection:
            where = scoped_deals(scope)
            start, end, pipeline = where.param(period.start), where.param(period.end), where.param(scope.pipeline_id)
            stays = await connection.fetch(
                TIME_IN_STAGE.format(where=where.sql, pipeline=pipeline, start=start, end=end), *where.params
            )
            where = scoped_deals(scope)
            where.add("closed_at >= {}", period.start)
            where.add("closed_at < {}", period.end)
            cycles = await connection.fetch(CYCLE_TIME.format(where=where.sql), *where.params)
        return StageTimeFigures(
            by_stage={row["stage_id"]: _durations(row) for row in stays},
            cycle={None if row["whole"] else StageKind(row["kind"]): _durations(row) for row in cycles},
        )

    async def forecast(self, scope: Scope, start: date, end: date) -> ForecastFigures:
        async with self._snapshot() as connection:
            where = scoped_deals(scope)
            first, last = where.param(start), where.param(end)
            cells = await connection.fetch(FORECAST.format(where=where.sql, start=first, end=last), *where.params)
            where = scoped_deals(scope)
            counts = await connection.fetchrow(OPEN_COUNTS.format(where=where.sql), *where.params)
        assert counts is not None
        return ForecastFigures(
            cells=[
                ForecastCell(row["month"], row["currency"], row["deals"], row["value"], row["value_times_percent"])
                for row in cells
            ],
            open_deals=counts["open_deals"],
            without_value=counts["without_value"],
        )

    async def performance(self, scope: Scope, period: Instants) -> PerformanceFigures:
        where = scoped_deals(scope)
        where.add("closed_at >= {}", period.start)
        where.add("closed_at < {}", period.end)
        async with self._snapshot() as connection:
            rows = await connection.fetch(PERFORMANCE.format(where=where.sql), *where.params)
        owners: dict[str, dict[Any, Any]] = {"counts": {}, "values": {}}
        insurers: dict[str, dict[Any, Any]] = {"counts": {}, "values": {}}
        for row in rows:
            target = owners if row["level"] == "owner" else insurers
            key: UUID | str | None = row["key"]
            if row["level"] == "owner" and key is not None:
                key = UUID(str(key))
            if row["currency"] is None:
                target["counts"][(key, row["won"])] = row["deals"]
            else:
                target["values"][(key, row["won"], row["currency"])] = row["value"]
        return PerformanceFigures(
            owners=Outcomes(owners["counts"], owners["values"]),
            insurers=Outcomes(insurers["counts"], insurers["values"]),
        )

    async def income(self, scope: Scope, start: date, end: date, today: date) -> IncomeFigures:
        async with self._snapshot() as connection:
            where = scoped_deals(scope)
            first, last = where.param(start), where.param(end)
            months = await connection.fetch(INCOME.format(where=where.sql, start=first, end=last), *where.params)
            where = scoped_deals(scope)
            overdue_rule = status_sql("pay", where.param(today))
            overdue = await connection.fetch(OVERDUE.format(where=where.sql, overdue=overdue_rule), *where.params)
        return IncomeFigures(
            months=[
                IncomeCell(row["month"], row["currency"], row["premium"], row["commission"], row["other"])
                for row in months
            ],
            overdue=[
                OverdueCell(row["currency"], row["instalments"], row["outstanding"], row["oldest_planned_date"])
                for row in overdue
            ],
        )

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[Connection]:
        """A connection in a read-only repeatable-read transaction: a figure's statements see one state."""
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield connection
