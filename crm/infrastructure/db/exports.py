"""Exports read from PostgreSQL: one read-only REPEATABLE READ transaction per export, a bounded count, then a
server-side cursor fetched in batches.

Why a snapshot and a cursor rather than keyset pages: the count that decides whether the export is refused and
the rows it sends come from the same snapshot, and a record changed while the export runs (a deal's review date
moved, which moves it in the list's order) is neither sent twice nor skipped, as it could be by pages each read
at its own moment. One plan, one statement. The price is a connection held for the export's length (bounded by
``ExportLimits.concurrent``) and a snapshot that holds back vacuum meanwhile: a client that stops reading is cut
off by ``idle_in_transaction_session_timeout`` instead of holding it forever.

The same filters and access conditions as the lists (``client_conditions``, ``deal_conditions``, the tables'
guards) select the rows, in the lists' orders; the rows become records through the same functions, so a payment
carries the status of the day it was exported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from crm.domain.access import Access
from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.clock import Clock
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.exports.schemas import PaymentExportFilter
from crm.domain.payments.schemas import Payment
from crm.infrastructure.db.clients import CLIENTS, client_conditions, client_of
from crm.infrastructure.db.clients import GUARD as CLIENT_GUARD
from crm.infrastructure.db.clients import ORDER as CLIENT_ORDER
from crm.infrastructure.db.deals import DEALS, deal_conditions, deal_of
from crm.infrastructure.db.deals import GUARD as DEAL_GUARD
from crm.infrastructure.db.deals import ORDER as DEAL_ORDER
from crm.infrastructure.db.errors import connection_lost
from crm.infrastructure.db.payments import PAYMENTS, payments_of
from crm.infrastructure.db.policies import GUARD as POLICY_GUARD
from crm.infrastructure.db.sql import Where

T = TypeVar("T")

BATCH_SIZE = 1000
# A client that reads nothing for this long loses its export (the server ends the session and its snapshot).
IDLE_TIMEOUT = "60s"
# Instalments by their planned day, each policy's in their sequence.
PAYMENT_ORDER = "planned_date, policy_id, sequence"


class PgRecordStream(Generic[T]):
    """One export's snapshot: ``open`` begins it and counts, ``batches`` reads it, ``close`` ends it."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        connection: PoolConnectionProxy[asyncpg.Record],
        statement: str,
        params: Sequence[object],
        to_model: Callable[[asyncpg.Record], T],
    ) -> None:
        self._pool = pool
        self._connection: PoolConnectionProxy[asyncpg.Record] | None = connection
        self._transaction = connection.transaction(isolation="repeatable_read", readonly=True)
        self._started = False
        self._statement = statement
        self._params = params
        self._model = to_model
        self._matching = 0

    @property
    def matching(self) -> int:
        return self._matching

    async def open(self, count_statement: str, count_params: Sequence[object]) -> None:
        connection = self._connection
        assert connection is not None
        await self._transaction.start()
        self._started = True
        await connection.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{IDLE_TIMEOUT}'")
        self._matching = int(await connection.fetchval(count_statement, *count_params))

    async def batches(self) -> AsyncIterator[Sequence[T]]:
        connection = self._connection
        if connection is None:
            raise RuntimeError("the export is closed")
        cursor = await connection.cursor(self._statement, *self._params)
        while True:
            rows = await cursor.fetch(BATCH_SIZE)
            if not rows:
                return
            yield [self._model(row) for row in rows]

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Shielded: a client that went away cancels the response, and the connection still goes back.
            await asyncio.shield(self._finish(connection))

    async def _finish(self, connection: PoolConnectionProxy[asyncpg.Record]) -> None:
        try:
            if self._started and not connection.is_closed():
                await self._transaction.rollback()  # read only: nothing to keep
        except Exception as error:
            if not connection_lost(error):
                raise
        finally:
            await self._pool.release(connection)


class PgExportSource:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def clients(self, query: ClientFilter, access: Access, limit: int) -> PgRecordStream[Client]:
        where = client_conditions(query)
        CLIENT_GUARD.sees(access, where)
        return await self._open(CLIENTS.name, CLIENTS.columns, where, CLIENT_ORDER.order_by, client_of, limit)

    async def deals(self, query: DealFilter, access: Access, limit: int) -> PgRecordStream[Deal]:
        where = deal_conditions(query)
        DEAL_GUARD.sees(access, where)
        return await self._open(DEALS.name, DEALS.columns, where, DEAL_ORDER.order_by, deal_of, limit)

    async def payments(self, query: PaymentExportFilter, access: Access, limit: int) -> PgRecordStream[Payment]:
        # The policies the caller sees (a payment follows its policy's grants), then their live payments.
        policies = Where("NOT policies.is_deleted")
        POLICY_GUARD.sees(access, policies)
        if query.deal_id:
            policies.add("policies.deal_id = {}", query.deal_id)
        if query.client_id:
            policies.add("policies.client_id = {}", query.client_id)
        where = Where("NOT is_deleted", f"policy_id IN (SELECT policies.id FROM crm.policies WHERE {policies.sql})")
        where.params = policies.params
        if query.policy_id:
            where.add("policy_id = {}", query.policy_id)
        if query.planned_from:
            where.add("planned_date >= {}", query.planned_from)
        if query.planned_to:
            where.add("planned_date <= {}", query.planned_to)
        return await self._open(PAYMENTS.name, PAYMENTS.columns, where, PAYMENT_ORDER, payments_of(self._clock), limit)

    async def _open(
        self,
        source: str,
        columns: str,
        where: Where,
        order_by: str,
        to_model: Callable[[asyncpg.Record], T],
        limit: int,
    ) -> PgRecordStream[T]:
        statement = f"SELECT {columns} FROM {source} WHERE {where.sql} ORDER BY {order_by}"
        bound = f"${len(where.params) + 1}"
        count = f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where.sql} LIMIT {bound}) AS matching"
        stream = PgRecordStream(self._pool, await self._pool.acquire(), statement, where.params, to_model)
        try:
            await stream.open(count, [*where.params, limit + 1])
        except BaseException:
            await stream.close()
            raise
        return stream
