"""Payments, their incomes and expenses, and their history in PostgreSQL, through asyncpg.

A payment's status is derived from its totals and today (``derive_status``); ``payment_of`` is the one place a
row becomes a ``Payment``, so every payment read here carries the status of the day it was read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.access import Access
from crm.domain.clock import Clock
from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.rules import derive_status
from crm.domain.payments.schemas import HistoryEntry, LineKind, Payment, PaymentFilter, PaymentLine
from crm.infrastructure.db.access import reach
from crm.infrastructure.db.models import PaymentExpenseRow, PaymentHistoryRow, PaymentIncomeRow, PaymentRow
from crm.infrastructure.db.policies import GUARD as POLICY_GUARD
from crm.infrastructure.db.records import RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, fetch_page, required
from crm.infrastructure.db.tables import TableSql

# The deal is the policy's current one; `payments` names the target table in SELECT and RETURNING alike.
PAYMENTS = TableSql(
    PaymentRow,
    computed={"deal_id": "(SELECT p.deal_id FROM crm.policies p WHERE p.id = payments.policy_id)"},
    hidden={"overdue_checked_for", "due_noticed_for"},
    fixed={"policy_id", "sequence", "recorded_by_id"},
)
LINES: Mapping[LineKind, TableSql] = {
    "income": TableSql(PaymentIncomeRow, fixed={"payment_id"}),
    "expense": TableSql(PaymentExpenseRow, fixed={"payment_id"}),
}
HISTORY = TableSql(PaymentHistoryRow)

ORDER = ListOrder("payments", ("sequence", "id"), (int, UUID))
LINE_ORDERS = {
    kind: ListOrder(f"payment_{kind}s", ("posted_at", "created_at", "id"), (date, datetime, UUID)) for kind in LINES
}
HISTORY_ORDER = ListOrder("payment_history", ("id",), (int,), descending=True)

# A deal's value, as GET /deals/stage-metrics and the analytics count it: the planned amounts of the live,
# uncancelled payments of its live policies (each in its payment's currency).
PLANNED_PAYMENTS = """
SELECT po.deal_id, pay.policy_id, pay.currency, pay.planned_amount, pay.planned_date
FROM crm.payments pay JOIN crm.policies po ON po.id = pay.policy_id
WHERE NOT pay.is_deleted AND NOT po.is_deleted AND pay.cancelled_at IS NULL
"""


def deal_value(deal_id: str, currency: str | None = None) -> str:
    """SQL: the value of the deal ``deal_id`` (an SQL expression), the sum of its ``PLANNED_PAYMENTS`` (only those in
    ``currency``, an SQL expression, when given); NULL without any."""
    in_currency = "" if currency is None else f" AND p.currency = {currency}"
    return f"SELECT sum(p.planned_amount) FROM ({PLANNED_PAYMENTS}) p WHERE p.deal_id = {deal_id}{in_currency}"


def status_sql(payment: str, today: str) -> str:
    """``derive_status`` as an SQL expression on the payment row ``payment`` (a table alias) and the business day
    ``today`` (a placeholder or literal), for statements that count payments by status without reading them.
    tests/integration/test_payment_status_sql.py holds it to ``derive_status`` case by case."""
    return f"""(CASE
    WHEN {payment}.cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN {payment}.incomes_total >= {payment}.planned_amount THEN 'paid'
    WHEN {payment}.incomes_total > 0 THEN 'partially_paid'
    WHEN {payment}.planned_date < {today} THEN 'overdue'
    ELSE 'scheduled' END)"""


LIVE_POLICY = "FROM crm.policies WHERE id = $1 AND deal_id = $2 AND NOT is_deleted"
# The policy is locked FOR UPDATE by the caller, so max + 1 cannot be taken twice.
NEXT_SEQUENCE = {"sequence": "(SELECT coalesce(max(sequence), 0) + 1 FROM crm.payments WHERE policy_id = {policy_id})"}
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
RETURNING {PAYMENTS.columns}
"""
HAS_LIVE_LINES = """
SELECT EXISTS (SELECT 1 FROM crm.payment_incomes WHERE payment_id = $1 AND NOT is_deleted)
    OR EXISTS (SELECT 1 FROM crm.payment_expenses WHERE payment_id = $1 AND NOT is_deleted)
"""
INSERT_HISTORY = """
INSERT INTO crm.payment_history (payment_id, entity, entity_id, action, actor_id, before, after)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
"""
# Live payments of live policies whose planned date has passed and that were not yet looked at for it, from
# ix_payments_unchecked_planned_date (which holds only those). Both rows are locked without waiting, so
# this never deadlocks with writers that lock the policy first.
LOCK_UNCHECKED_PAST_DUE = """
SELECT pay.id
FROM crm.payments pay JOIN crm.policies pol ON pol.id = pay.policy_id
WHERE NOT pay.is_deleted AND pay.planned_date < $1 AND pay.overdue_checked_for IS DISTINCT FROM pay.planned_date
  AND NOT pol.is_deleted
ORDER BY pay.planned_date, pay.id
LIMIT $2
FOR UPDATE OF pay SKIP LOCKED
FOR KEY SHARE OF pol SKIP LOCKED
"""
MARK_CHECKED = "UPDATE crm.payments SET overdue_checked_for = planned_date WHERE id = ANY($1::uuid[])"


def payment_of(row: asyncpg.Record, today: date) -> Payment:
    """The payment a row holds, with its status on ``today``."""
    values = dict(row)
    values["status"] = derive_status(
        cancelled=values["cancelled_at"] is not None,
        planned_amount=values["planned_amount"],
        incomes_total=values["incomes_total"],
        planned_date=values["planned_date"],
        today=today,
    )
    return Payment.model_validate(values)


def payments_of(clock: Clock) -> Callable[[asyncpg.Record], Payment]:
    return lambda row: payment_of(row, clock.today())


def _line(row: asyncpg.Record) -> PaymentLine:
    return PaymentLine.model_validate(dict(row))


def _history(row: asyncpg.Record) -> HistoryEntry:
    values = dict(row)
    for key in ("before", "after"):
        if isinstance(values[key], str):
            values[key] = json.loads(values[key])
    return HistoryEntry.model_validate(values)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


class PgPaymentLineRepository(RecordRepository[PaymentLine]):
    def __init__(self, connection: Connection, kind: LineKind) -> None:
        super().__init__(connection, LINES[kind], _line)


class PgPaymentRepository(RecordRepository[Payment]):
    """Payments, their lines and history are reached through their policy (``lock_policy``), which follows the
    access rules; the records themselves carry no grants of their own."""

    def __init__(self, connection: Connection, clock: Clock, access: Access) -> None:
        super().__init__(connection, PAYMENTS, payments_of(clock), access=access)
        self._lines = {kind: PgPaymentLineRepository(connection, kind) for kind in LINES}

    def lines(self, kind: LineKind) -> PgPaymentLineRepository:
        return self._lines[kind]

    async def lock_policy(self, deal_id: UUID, policy_id: UUID, *, exclusive: bool) -> str | None:
        # KEY SHARE is enough against a delete (which locks the policy FOR UPDATE) and lets line writes
        # of different payments of one policy run side by side.
        lock = "FOR UPDATE" if exclusive else "FOR KEY SHARE"
        if not await reach(self._conn, POLICY_GUARD, self._access, policy_id, change=True):
            return None
        currency: str | None = await self._conn.fetchval(f"SELECT currency {LIVE_POLICY} {lock}", policy_id, deal_id)
        return currency

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> Payment:
        """The next sequence of the policy is taken under the policy's exclusive lock, which the caller holds."""
        new = {**self._new(record_id, values, actor_id), "recorded_by_id": actor_id}
        statement, params = PAYMENTS.insert(new, expressions=NEXT_SEQUENCE)
        return self._model(required(await self._conn.fetchrow(statement, *params)))

    async def has_live_lines(self, payment_id: UUID) -> bool:
        return bool(await self._conn.fetchval(HAS_LIVE_LINES, payment_id))

    async def recompute_totals(self, payment_id: UUID, actor_id: UUID | None) -> Payment:
        return self._model(required(await self._conn.fetchrow(RECOMPUTE, payment_id, actor_id)))

    async def add_history(
        self,
        payment_id: UUID,
        entity: str,
        entity_id: UUID,
        action: str,
        actor_id: UUID | None,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        await self._conn.execute(
            INSERT_HISTORY, payment_id, entity, entity_id, action, actor_id, _json(before), _json(after)
        )

    async def lock_unchecked_past_due(self, today: date, limit: int) -> list[Payment]:
        ids = [row["id"] for row in await self._conn.fetch(LOCK_UNCHECKED_PAST_DUE, today, limit)]
        if not ids:
            return []
        # A statement of its own, so it reads the rows as locked, not as its snapshot had them.
        rows = await self._conn.fetch(f"{PAYMENTS.select} WHERE id = ANY($1::uuid[]) ORDER BY planned_date, id", ids)
        return [self._model(row) for row in rows]

    async def mark_overdue_checked(self, payment_ids: Sequence[UUID]) -> None:
        await self._conn.execute(MARK_CHECKED, list(payment_ids))


class PgPaymentReader:
    """Reads of a policy's payments, their lines and history, once ``policy_is_live`` found the caller sees it."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._payment = payments_of(clock)

    async def policy_is_live(self, deal_id: UUID, policy_id: UUID, access: Access) -> bool:
        where = Where("NOT is_deleted")
        where.add("id = {} AND deal_id = {}", policy_id, deal_id)
        POLICY_GUARD.sees(access, where)
        return bool(await self._pool.fetchval(f"SELECT true FROM crm.policies WHERE {where.sql}", *where.params))

    async def get(self, payment_id: UUID, policy_id: UUID) -> Payment | None:
        row = await self._pool.fetchrow(
            f"{PAYMENTS.select} WHERE id = $1 AND policy_id = $2 AND NOT is_deleted", payment_id, policy_id
        )
        return None if row is None else self._payment(row)

    async def page(self, query: PaymentFilter) -> Page[Payment]:
        where = Where("NOT is_deleted")
        where.add("policy_id = {}", query.policy_id)
        payments = await fetch_page(
            self._pool,
            source=PAYMENTS.name,
            columns=PAYMENTS.columns,
            where=where,
            page=query.page,
            order=ORDER,
            to_model=self._payment,
        )
        embeds: dict[str, dict[UUID, list[PaymentLine]]] = {}
        ids = [p.id for p in payments.items]
        wanted: dict[LineKind, bool] = {"income": query.include_incomes, "expense": query.include_expenses}
        for kind, table in LINES.items():
            if wanted[kind] and ids:
                embeds[kind] = await self._lines_of(table, ids)
        if embeds:
            payments.items = [
                p.model_copy(update={f"{kind}s": lines.get(p.id, []) for kind, lines in embeds.items()})
                for p in payments.items
            ]
        return payments

    async def _lines_of(self, table: TableSql, payment_ids: list[UUID]) -> dict[UUID, list[PaymentLine]]:
        rows = await self._pool.fetch(
            f"{table.select} WHERE payment_id = ANY($1::uuid[]) AND NOT is_deleted"
            " ORDER BY payment_id, posted_at, created_at, id",
            payment_ids,
        )
        by_payment: dict[UUID, list[PaymentLine]] = defaultdict(list)
        for row in rows:
            by_payment[row["payment_id"]].append(_line(row))
        return by_payment

    async def line(self, kind: LineKind, line_id: UUID, payment_id: UUID) -> PaymentLine | None:
        row = await self._pool.fetchrow(
            f"{LINES[kind].select} WHERE id = $1 AND payment_id = $2 AND NOT is_deleted", line_id, payment_id
        )
        return None if row is None else _line(row)

    async def lines(self, kind: LineKind, payment_id: UUID, page: PageRequest) -> Page[PaymentLine]:
        where = Where("NOT is_deleted")
        where.add("payment_id = {}", payment_id)
        return await fetch_page(
            self._pool,
            source=LINES[kind].name,
            columns=LINES[kind].columns,
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
            source=HISTORY.name,
            columns=HISTORY.columns,
            where=where,
            page=page,
            order=HISTORY_ORDER,
            to_model=_history,
        )
