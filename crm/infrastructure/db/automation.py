"""Automation rules, their runs and the event feed in PostgreSQL, through asyncpg.

A time rule's occasions are found, and made unique, here: the key of each (``deal:<id>@<µs>`` for a stay in a
stage, ``payment:<id>@<planned date>``, ``task:<id>@<µs>`` for a due time) is one SQL expression, used both to
skip the occasions the rule fired on and to record the run. The event feed follows ``crm.outbox`` by
``sequence`` below the outbox's horizon, the order the relay publishes in (read by the same rule, ``SETTLED``, so
it needs no relay and no broker); one worker holds it at a time (a session advisory lock, given back when its
connection ends, however it ends).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.access import EVERYTHING
from crm.domain.automation.repository import FeedEvent, Occasion
from crm.domain.automation.schemas import (
    TIME_TRIGGERS,
    AutomationRule,
    AutomationRun,
    Conditions,
    DealInStageTrigger,
    PaymentOverdueTrigger,
    RuleFilter,
    RunFilter,
    RunStatus,
    TaskOverdueTrigger,
    TriggerKind,
)
from crm.domain.clock import Clock
from crm.domain.pagination import Page
from crm.domain.tasks.rules import FINAL_STATUSES as FINAL_TASK_STATUSES
from crm.infrastructure.db.models import AutomationRuleRow, AutomationRunRow
from crm.infrastructure.db.outbox import CAUSE_HEADER, LATEST_SETTLED, SETTLED
from crm.infrastructure.db.payments import deal_value, status_sql
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, fetch_page
from crm.infrastructure.db.tables import TableSql

RULES = TableSql(AutomationRuleRow)
RUNS = TableSql(AutomationRunRow)
JSON_COLUMNS = ("trigger", "conditions", "action")
ORDER = ListOrder("automation_rules", ("name", "id"), (str, UUID))
RUN_ORDER = ListOrder("automation_runs", ("id",), (int,), descending=True)

LOCK_ENABLED = "SELECT id FROM crm.automation_rules WHERE id = $1 AND enabled AND NOT is_deleted FOR SHARE"
ENABLED_OF_KIND = (
    f"{RULES.select} WHERE enabled AND NOT is_deleted AND trigger ->> 'kind' = ANY($1::text[]) ORDER BY id"
)
ADD_RUN = """
INSERT INTO crm.automation_runs (rule_id, occasion, status, deal_id, event_id, cause, detail, error, at)
VALUES ($1, $2, $3, $4, $5, $6::uuid[], $7::jsonb, $8, $9)
ON CONFLICT (rule_id, occasion) DO NOTHING
RETURNING id
"""
SET_RUN = "UPDATE crm.automation_runs SET status = $3, detail = $4::jsonb WHERE rule_id = $1 AND occasion = $2"

FEED = "events"
# pg_try_advisory_lock's key: the feed's, so two workers never follow it at once (any other number is unrelated).
FEED_LOCK = 0x43524D_4155544F  # "CRM" "AUTO"
ENSURE_FEED = "INSERT INTO crm.automation_feed (name) VALUES ($1) ON CONFLICT DO NOTHING"
FEED_POSITION = "SELECT position FROM crm.automation_feed WHERE name = $1"
ADVANCE_FEED = "UPDATE crm.automation_feed SET position = $2, updated_at = now() WHERE name = $1"
FEED_EVENTS = (
    """
SELECT sequence, event_id, routing_key, aggregate_type, aggregate_id, payload -> 'data' AS data,
       headers -> '"""
    + CAUSE_HEADER
    + """' AS cause, created_at
FROM crm.outbox WHERE sequence > $1 AND """
    + SETTLED
    + """ ORDER BY sequence LIMIT $2
"""
)


def _micros(column: str) -> str:
    return f"(extract(epoch FROM {column}) * 1000000)::bigint"


# Each time trigger's candidates: ``{key}`` is the occasion's unique key, ``{where}`` the rule's conditions on the
# deal ``d``; $1 the rule, $2 the trigger's moment (entered / due / planned on or before it), $3 the batch size.
OCCASION_KEYS = {
    TriggerKind.DEAL_IN_STAGE: f"'deal:' || d.id || '@' || {_micros('d.stage_entered_at')}",
    TriggerKind.PAYMENT_OVERDUE: "'payment:' || pay.id || '@' || pay.planned_date",
    TriggerKind.TASK_OVERDUE: f"'task:' || t.id || '@' || {_micros('t.due_at')}",
}
DUE = {
    TriggerKind.DEAL_IN_STAGE: """
SELECT {key} AS key, d.id AS deal_id
FROM crm.deals d
WHERE NOT d.is_deleted AND d.stage_entered_at <= $2 AND {where}
  AND NOT EXISTS (SELECT 1 FROM crm.automation_runs r WHERE r.rule_id = $1 AND r.occasion = {key})
ORDER BY d.stage_entered_at, d.id LIMIT $3
""",
    # Overdue today ($4) by the payment status rule, planned at least the trigger's days ago ($2).
    TriggerKind.PAYMENT_OVERDUE: """
SELECT {key} AS key, d.id AS deal_id
FROM crm.payments pay JOIN crm.policies pol ON pol.id = pay.policy_id JOIN crm.deals d ON d.id = pol.deal_id
WHERE NOT pay.is_deleted AND NOT pol.is_deleted AND NOT d.is_deleted
  AND {overdue} = 'overdue' AND pay.planned_date <= $2::date AND {where}
  AND NOT EXISTS (SELECT 1 FROM crm.automation_runs r WHERE r.rule_id = $1 AND r.occasion = {key})
ORDER BY pay.planned_date, pay.id LIMIT $3
""",
    TriggerKind.TASK_OVERDUE: """
SELECT {key} AS key, d.id AS deal_id
FROM crm.tasks t JOIN crm.deals d ON d.id = t.deal_id
WHERE NOT t.is_deleted AND NOT d.is_deleted AND t.due_at <= $2 AND NOT t.status = ANY($4::text[]) AND {where}
  AND NOT EXISTS (SELECT 1 FROM crm.automation_runs r WHERE r.rule_id = $1 AND r.occasion = {key})
ORDER BY t.due_at, t.id LIMIT $3
""",
}

OVERDUE_TODAY = status_sql("pay", "$4::date")


def meets(conditions: Conditions, where: Where, deal: str = "d") -> None:
    """Add to ``where`` the rule's conditions on the deal ``deal`` (an alias): the one place they are decided."""
    if conditions.pipeline_id is not None:
        where.add(f"{deal}.pipeline_id = {{}}", conditions.pipeline_id)
    if conditions.stage_ids:
        where.add(f"{deal}.stage_id = ANY({{}}::uuid[])", list(conditions.stage_ids))
    if conditions.owner_ids:
        where.add(f"{deal}.owner_id = ANY({{}}::uuid[])", list(conditions.owner_ids))
    amount = conditions.amount
    if amount is not None:
        value = f"coalesce(({deal_value(f'{deal}.id', where.param(amount.currency))}), 0)"
        if amount.min is not None:
            where.add(f"{value} >= {{}}", amount.min)
        if amount.max is not None:
            where.add(f"{value} <= {{}}", amount.max)


def rule_of(row: asyncpg.Record) -> AutomationRule:
    values = dict(row)
    for column in JSON_COLUMNS:
        values[column] = json.loads(values[column])
    return AutomationRule.model_validate(values)


def run_of(row: asyncpg.Record) -> AutomationRun:
    values = dict(row)
    values["detail"] = json.loads(values["detail"])
    return AutomationRun.model_validate(values)


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: json.dumps(value) if name in JSON_COLUMNS else value for name, value in values.items()}


class PgAutomationRepository(RecordRepository[AutomationRule]):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, RULES, rule_of)

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> AutomationRule:
        return await super().add(record_id, _stored(values), actor_id)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> AutomationRule:
        return await super().update(record_id, _stored(changes), actor_id)

    async def lock_enabled(self, rule_id: UUID) -> AutomationRule | None:
        if await self._conn.fetchval(LOCK_ENABLED, rule_id) is None:
            return None
        row = await self._conn.fetchrow(f"{RULES.select} WHERE id = $1", rule_id)
        return None if row is None else rule_of(row)

    async def deal_meets(self, deal_id: UUID, conditions: Conditions) -> bool:
        where = Where("NOT d.is_deleted")
        where.add("d.id = {}", deal_id)
        meets(conditions, where)
        return bool(
            await self._conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM crm.deals d WHERE {where.sql})", *where.params)
        )

    async def add_run(
        self,
        rule_id: UUID,
        occasion: Occasion,
        status: RunStatus,
        detail: Mapping[str, Any],
        error: str | None,
        at: datetime,
    ) -> bool:
        run_id = await self._conn.fetchval(
            ADD_RUN,
            rule_id,
            occasion.key,
            status.value,
            occasion.deal_id,
            occasion.event_id,
            list(occasion.cause),
            json.dumps(dict(detail)),
            error,
            at,
        )
        return run_id is not None

    async def set_run(self, rule_id: UUID, key: str, status: RunStatus, detail: Mapping[str, Any]) -> None:
        await self._conn.execute(SET_RUN, rule_id, key, status.value, json.dumps(dict(detail)))


class PgAutomationReader(RecordReader[AutomationRule]):
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        super().__init__(pool, RULES, rule_of, ORDER)
        self._clock = clock

    async def get(self, rule_id: UUID) -> AutomationRule | None:  # type: ignore[override]
        return await super().get(rule_id, EVERYTHING)

    async def page(self, query: RuleFilter) -> Page[AutomationRule]:
        where = Where("NOT is_deleted")
        if query.enabled is not None:
            where.add("enabled = {}", query.enabled)
        return await self._page(where, query.page, EVERYTHING)

    async def runs(self, rule_id: UUID, query: RunFilter) -> Page[AutomationRun]:
        where = Where()
        where.add("rule_id = {}", rule_id)
        if query.status is not None:
            where.add("status = {}", query.status.value)
        return await fetch_page(
            self._pool,
            source=RUNS.name,
            columns=RUNS.columns,
            where=where,
            page=query.page,
            order=RUN_ORDER,
            to_model=run_of,
        )

    async def event_rules(self) -> list[AutomationRule]:
        return [rule_of(row) for row in await self._pool.fetch(ENABLED_OF_KIND, [TriggerKind.EVENT.value])]

    async def time_rules(self) -> list[AutomationRule]:
        kinds = [kind.value for kind in TIME_TRIGGERS]
        return [rule_of(row) for row in await self._pool.fetch(ENABLED_OF_KIND, kinds)]

    async def due_occasions(self, rule: AutomationRule, now: datetime, limit: int) -> Sequence[Occasion]:
        trigger = rule.trigger
        where = Where()
        where.param(rule.id)
        if isinstance(trigger, DealInStageTrigger):
            where.param(now - timedelta(hours=trigger.hours))
            where.param(limit)
            where.add("d.stage_id = {}", trigger.stage_id)
        elif isinstance(trigger, PaymentOverdueTrigger):
            today = self._clock.today()
            where.param(today - timedelta(days=trigger.days))
            where.param(limit)
            where.param(today)
        elif isinstance(trigger, TaskOverdueTrigger):
            where.param(now - timedelta(hours=trigger.hours))
            where.param(limit)
            where.param(sorted(status.value for status in FINAL_TASK_STATUSES))
        else:
            raise ValueError(f"rule {rule.id} is not triggered by time")
        meets(rule.conditions, where)
        kind = TriggerKind(trigger.kind)
        statement = DUE[kind].format(key=OCCASION_KEYS[kind], where=where.sql, overdue=OVERDUE_TODAY)
        rows = await self._pool.fetch(statement, *where.params)
        return [Occasion(row["key"], row["deal_id"]) for row in rows]


class FeedLeaseOnConnection:
    def __init__(self, connection: Connection, position: int) -> None:
        self._conn = connection
        self._position = position

    @property
    def position(self) -> int:
        return self._position

    async def events(self, limit: int) -> list[FeedEvent]:
        rows = await self._conn.fetch(FEED_EVENTS, self._position, limit)
        return [
            FeedEvent(
                position=row["sequence"],
                event_id=row["event_id"],
                routing_key=row["routing_key"],
                aggregate_type=row["aggregate_type"],
                aggregate_id=row["aggregate_id"],
                data=_object(row["data"]),
                cause=tuple(UUID(rule_id) for rule_id in json.loads(row["cause"] or "[]")),
                recorded_at=row["created_at"],
            )
            for row in rows
        ]

    async def advance(self, position: int) -> None:
        await self._conn.execute(ADVANCE_FEED, FEED, position)
        self._position = position


def _object(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else None
    return value if isinstance(value, dict) else {}


class PgEventFeed:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[FeedLeaseOnConnection | None]:
        async with self._pool.acquire() as connection:
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", FEED_LOCK):
                yield None
                return
            try:
                await connection.execute(ENSURE_FEED, FEED)
                position = await connection.fetchval(FEED_POSITION, FEED)
                yield FeedLeaseOnConnection(connection, int(position))
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", FEED_LOCK)

    async def lag(self) -> tuple[int, int]:
        async with self._pool.acquire() as connection:
            position = await connection.fetchval(FEED_POSITION, FEED)
            latest = await connection.fetchval(LATEST_SETTLED)
        return int(position or 0), int(latest)
