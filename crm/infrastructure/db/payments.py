"""Payments, their incomes and expenses, and their history in PostgreSQL, through asyncpg."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.schemas import HistoryEntry, LineKind, Payment, PaymentFilter, PaymentLine
from crm.infrastructure.db.sql import (
    RECORD_COLUMNS,
    Connection,
    ListOrder,
    Where,
    column_list,
    fetch_page,
    required,
    set_deleted_statement,
    update_statement,
)

# The deal is the policy's current one; `payments` names the target table in SELECT and RETURNING alike.
COLUMNS = column_list(
    (
        *RECORD_COLUMNS,
        "(SELECT p.deal_id FROM crm.policies p WHERE p.id = payments.policy_id) AS deal_id",
        "policy_id",
        "sequence",
        "planned_date",
        "planned_amount",
        "currency",
        "actual_date",
        # Derived on read by the service (it depends on today); this is a placeholder.
        "'scheduled' AS status",
        "cancelled_at",
        "comment",
        "recorded_by_id",
        "incomes_total",
        "expenses_total",
        "net_total",
    )
)
UPDATABLE = frozenset({"planned_date", "planned_amount", "currency", "actual_date", "comment", "cancelled_at"})
LINE_COLUMNS = column_list((*RECORD_COLUMNS, "payment_id", "amount", "currency", "category", "posted_at", "note"))
LINE_UPDATABLE = frozenset({"amount", "currency", "category", "posted_at", "note"})
LINE_TABLES: dict[str, str] = {"income": "crm.payment_incomes", "expense": "crm.payment_expenses"}
HISTORY_COLUMNS = "id, payment_id, entity, entity_id, action, actor_id, at, before, after"

ORDER = ListOrder("payments", ("sequence", "id"), (int, UUID))
LINE_ORDERS = {
    kind: ListOrder(f"payment_{kind}s", ("posted_at", "created_at", "id"), (date, datetime, UUID))
    for kind in LINE_TABLES
}
HISTORY_ORDER = ListOrder("payment_history", ("id",), (int,), descending=True)

LOCK_POLICY = "SELECT currency FROM crm.policies WHERE id = $1 AND deal_id = $2 AND NOT is_deleted"
# The policy is locked FOR UPDATE by the caller, so max + 1 cannot be taken twice.
INSERT = f"""
INSERT INTO crm.payments
    (id, policy_id, sequence, planned_date, planned_amount, currency, actual_date, comment, recorded_by_id,
     created_by_id, updated_by_id)
VALUES ($1, $2, (SELECT coalesce(max(sequence), 0) + 1 FROM crm.payments WHERE policy_id = $2),
        $3, $4, $5, $6, $7, $8, $8, $8)
RETURNING {COLUMNS}
"""
RECOMPUTE = f"""
WITH sums AS (
    SELECT (SELECT coalesce(sum(amount), 0) FROM crm.payment_incomes WHERE payment_id = $1 AND NOT is_deleted) AS i,
           (SELECT coalesce(sum(amount), 0) FROM crm.payment_expenses WHERE payment_id = $1 AND NOT is_deleted) AS e
)
UPDATE crm.payments
SET incomes_total = sums.i, expenses_total = sums.e, net_total = sums.i - sums.e,
    version = version + 1, updated_at = now(), updated_by_id = $2
FROM sums
WHERE id = $1
RETURNING {COLUMNS}
"""
HAS_LIVE_LINES = """
SELECT EXISTS (SELECT 1 FROM crm.payment_incomes WHERE payment_id = $1 AND NOT is_deleted)
    OR EXISTS (SELECT 1 FROM crm.payment_expenses WHERE payment_id = $1 AND NOT is_deleted)
"""
INSERT_HISTORY = """
INSERT INTO crm.payment_history (payment_id, entity, entity_id, action, actor_id, before, after)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
"""

# Mirrors derive_status's overdue (not cancelled, nothing received, planned date passed) as a pre-selection;
# ix_payments_planned_date finds the past planned dates. Both rows are locked without waiting, so this
# never deadlocks with writers that lock the policy first.
LOCK_UNANNOUNCED_OVERDUE = """
SELECT pay.id
FROM crm.payments pay JOIN crm.policies pol ON pol.id = pay.policy_id
WHERE NOT pay.is_deleted AND pay.planned_date < $1 AND pay.cancelled_at IS NULL AND pay.incomes_total <= 0
  AND pay.overdue_announced_for IS DISTINCT FROM pay.planned_date AND NOT pol.is_deleted
ORDER BY pay.planned_date, pay.id
LIMIT $2
FOR UPDATE OF pay SKIP LOCKED
FOR KEY SHARE OF pol SKIP LOCKED
"""
MARK_OVERDUE_ANNOUNCED = "UPDATE crm.payments SET overdue_announced_for = planned_date WHERE id = ANY($1::uuid[])"


def _payment(row: asyncpg.Record) -> Payment:
    return Payment.model_validate(dict(row))


def _line(row: asyncpg.Record) -> PaymentLine:
    return PaymentLine.model_validate(dict(row))


def _history(row: asyncpg.Record) -> HistoryEntry:
    values = dict(row)
    for key in ("before", "after"):
        if isinstance(values[key], str):
            values[key] = json.loads(values[key])
    return HistoryEntry.model_validate(values)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


class PgPaymentRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def lock_policy(self, deal_id: UUID, policy_id: UUID, *, exclusive: bool) -> str | None:
        # KEY SHARE is enough against a delete (which locks the policy FOR UPDATE) and lets line writes
        # of different payments of one policy run side by side.
        lock = "FOR UPDATE" if exclusive else "FOR KEY SHARE"
        currency: str | None = await self._conn.fetchval(f"{LOCK_POLICY} {lock}", policy_id, deal_id)
        return currency

    async def add(self, payment_id: UUID, policy_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Payment:
        row = await self._conn.fetchrow(
            INSERT,
            payment_id,
            policy_id,
            values["planned_date"],
            values["planned_amount"],
            values["currency"],
            values["actual_date"],
            values["comment"],
            actor_id,
        )
        return _payment(required(row))

    async def get_for_update(self, payment_id: UUID, policy_id: UUID) -> Payment | None:
        row = await self._conn.fetchrow(
            f"SELECT {COLUMNS} FROM crm.payments WHERE id = $1 AND policy_id = $2 FOR UPDATE", payment_id, policy_id
        )
        return None if row is None else _payment(row)

    async def update(self, payment_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> Payment:
        statement, params = update_statement("crm.payments", changes, UPDATABLE, COLUMNS)
        params[0], params[-1] = payment_id, actor_id
        return _payment(required(await self._conn.fetchrow(statement, *params)))

    async def set_deleted(self, payment_id: UUID, deleted: bool, actor_id: UUID | None) -> Payment:
        statement = set_deleted_statement("crm.payments", COLUMNS)
        return _payment(required(await self._conn.fetchrow(statement, payment_id, deleted, actor_id)))

    async def has_live_lines(self, payment_id: UUID) -> bool:
        return bool(await self._conn.fetchval(HAS_LIVE_LINES, payment_id))

    async def recompute_totals(self, payment_id: UUID, actor_id: UUID | None) -> Payment:
        return _payment(required(await self._conn.fetchrow(RECOMPUTE, payment_id, actor_id)))

    async def add_line(
        self, kind: LineKind, line_id: UUID, payment_id: UUID, values: dict[str, Any], actor_id: UUID | None
    ) -> PaymentLine:
        row = await self._conn.fetchrow(
            f"""
INSERT INTO {LINE_TABLES[kind]}
    (id, payment_id, amount, currency, category, posted_at, note, created_by_id, updated_by_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
RETURNING {LINE_COLUMNS}
""",
            line_id,
            payment_id,
            values["amount"],
            values["currency"],
            values["category"],
            values["posted_at"],
            values["note"],
            actor_id,
        )
        return _line(required(row))

    async def line_for_update(self, kind: LineKind, line_id: UUID, payment_id: UUID) -> PaymentLine | None:
        row = await self._conn.fetchrow(
            f"SELECT {LINE_COLUMNS} FROM {LINE_TABLES[kind]}"
            " WHERE id = $1 AND payment_id = $2 AND NOT is_deleted FOR UPDATE",
            line_id,
            payment_id,
        )
        return None if row is None else _line(row)

    async def update_line(
        self, kind: LineKind, line_id: UUID, changes: dict[str, Any], actor_id: UUID | None
    ) -> PaymentLine:
        statement, params = update_statement(LINE_TABLES[kind], changes, LINE_UPDATABLE, LINE_COLUMNS)
        params[0], params[-1] = line_id, actor_id
        return _line(required(await self._conn.fetchrow(statement, *params)))

    async def delete_line(self, kind: LineKind, line_id: UUID, actor_id: UUID | None) -> PaymentLine:
        statement = set_deleted_statement(LINE_TABLES[kind], LINE_COLUMNS)
        return _line(required(await self._conn.fetchrow(statement, line_id, True, actor_id)))

    async def add_history(
        self,
        payment_id: UUID,
        entity: str,
        entity_id: UUID,
        action: str,
        actor_id: UUID | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        await self._conn.execute(
            INSERT_HISTORY, payment_id, entity, entity_id, action, actor_id, _json(before), _json(after)
        )

    async def lock_unannounced_overdue(self, today: date, limit: int) -> list[Payment]:
        ids = [row["id"] for row in await self._conn.fetch(LOCK_UNANNOUNCED_OVERDUE, today, limit)]
        if not ids:
            return []
        # A statement of its own, so it reads the rows as locked, not as its snapshot had them.
        rows = await self._conn.fetch(
            f"SELECT {COLUMNS} FROM crm.payments WHERE id = ANY($1::uuid[]) ORDER BY planned_date, id", ids
        )
        return [_payment(row) for row in rows]

    async def mark_overdue_announced(self, payment_ids: Sequence[UUID]) -> None:
        await self._conn.execute(MARK_OVERDUE_ANNOUNCED, list(payment_ids))


class PgPaymentReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def policy_is_live(self, deal_id: UUID, policy_id: UUID) -> bool:
        return bool(await self._pool.fetchval(LOCK_POLICY.replace("currency", "true", 1), policy_id, deal_id))

    async def get(self, payment_id: UUID, policy_id: UUID) -> Payment | None:
        row = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM crm.payments WHERE id = $1 AND policy_id = $2 AND NOT is_deleted",
            payment_id,
            policy_id,
        )
        return None if row is None else _payment(row)

    async def page(self, query: PaymentFilter) -> Page[Payment]:
        where = Where("NOT is_deleted")
        where.add("policy_id = {}", query.policy_id)
        payments = await fetch_page(
            self._pool,
            source="crm.payments",
            columns=COLUMNS,
            where=where,
            page=query.page,
            order=ORDER,
            to_model=_payment,
        )
        embeds: dict[str, dict[UUID, list[PaymentLine]]] = {}
        ids = [p.id for p in payments.items]
        for kind, wanted in (("income", query.include_incomes), ("expense", query.include_expenses)):
            if wanted and ids:
                embeds[kind] = await self._lines_of(kind, ids)
        if embeds:
            payments.items = [
                p.model_copy(update={f"{kind}s": lines.get(p.id, []) for kind, lines in embeds.items()})
                for p in payments.items
            ]
        return payments

    async def _lines_of(self, kind: str, payment_ids: list[UUID]) -> dict[UUID, list[PaymentLine]]:
        rows = await self._pool.fetch(
            f"SELECT {LINE_COLUMNS} FROM {LINE_TABLES[kind]} WHERE payment_id = ANY($1::uuid[]) AND NOT is_deleted"
            " ORDER BY payment_id, posted_at, created_at, id",
            payment_ids,
        )
        by_payment: dict[UUID, list[PaymentLine]] = defaultdict(list)
        for row in rows:
            by_payment[row["payment_id"]].append(_line(row))
        return by_payment

    async def line(self, kind: LineKind, line_id: UUID, payment_id: UUID) -> PaymentLine | None:
        row = await self._pool.fetchrow(
            f"SELECT {LINE_COLUMNS} FROM {LINE_TABLES[kind]} WHERE id = $1 AND payment_id = $2 AND NOT is_deleted",
            line_id,
            payment_id,
        )
        return None if row is None else _line(row)

    async def lines(self, kind: LineKind, payment_id: UUID, page: PageRequest) -> Page[PaymentLine]:
        where = Where("NOT is_deleted")
        where.add("payment_id = {}", payment_id)
        return await fetch_page(
            self._pool,
            source=LINE_TABLES[kind],
            columns=LINE_COLUMNS,
            where=where,
            page=page,
            order=LINE_ORDERS[kind],
            to_model=_line,
        )

    async def history(self, payment_id: UUID, page: PageRequest) -> Page[HistoryEntry]:
        where = Where()
        where.add("payment_id = {}", payment_id)
        return await fetch_page(
            self._pool,
            source="crm.payment_history",
            columns=HISTORY_COLUMNS,
            where=where,
            page=page,
            order=HISTORY_ORDER,
            to_model=_history,
        )
