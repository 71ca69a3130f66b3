"""Policies in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.pagination import Page
from crm.domain.policies.schemas import Policy, PolicyFilter
from crm.infrastructure.db.records import RecordRepository
from crm.infrastructure.db.sql import (
    RECORD_COLUMNS,
    ListOrder,
    Where,
    column_list,
    contains_pattern,
    fetch_page,
)

# A policy's calculation is the live one pointing at it (one at most: calculations.linked_policy_id is
# unique). `policies` names the target table in SELECT, INSERT … RETURNING and UPDATE … RETURNING alike.
CALCULATION_ID = (
    "(SELECT c.id FROM crm.calculations c WHERE c.linked_policy_id = policies.id AND NOT c.is_deleted)"
    " AS calculation_id"
)
COLUMNS = column_list(
    (
        *RECORD_COLUMNS,
        "policy_number",
        "client_id",
        "deal_id",
        CALCULATION_ID,
        "owner_id",
        "status",
        "premium",
        "currency",
        "effective_from",
        "effective_to",
    )
)
UPDATABLE = frozenset(
    {
        "policy_number",
        "client_id",
        "deal_id",
        "owner_id",
        "status",
        "premium",
        "currency",
        "effective_from",
        "effective_to",
    }
)
CURSOR_KIND = "policies"
ORDER = ListOrder(CURSOR_KIND, ("created_at", "id"), (datetime, UUID), descending=True)

SELECT_BY_ID = f"SELECT {COLUMNS} FROM crm.policies WHERE id = $1"
# A taken number (a concurrent insert's included) yields no row instead of an error that would abort
# the transaction.
INSERT = f"""
INSERT INTO crm.policies
    (id, policy_number, client_id, deal_id, owner_id, status, premium, currency, effective_from, effective_to,
     created_by_id, updated_by_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
ON CONFLICT ON CONSTRAINT uq_policies_policy_number DO NOTHING
RETURNING {COLUMNS}
"""
# KEY SHARE is enough: deleting a deal or moving it to another client first locks it FOR UPDATE.
CLIENT_OF_LIVE_DEAL = "SELECT client_id FROM crm.deals WHERE id = $1 AND NOT is_deleted FOR KEY SHARE"


def _policy(row: asyncpg.Record) -> Policy:
    return Policy.model_validate(dict(row))


class PgPolicyRepository(RecordRepository[Policy]):
    table = "crm.policies"
    columns = COLUMNS
    updatable = UPDATABLE

    def _model(self, row: asyncpg.Record) -> Policy:
        return _policy(row)

    async def count_live_payments(self, policy_id: UUID) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM crm.payments WHERE policy_id = $1 AND NOT is_deleted", policy_id
        )
        return int(count)

    async def client_of_live_deal(self, deal_id: UUID) -> UUID | None:
        client_id: UUID | None = await self._conn.fetchval(CLIENT_OF_LIVE_DEAL, deal_id)
        return client_id

    async def add(self, policy_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Policy | None:
        row = await self._conn.fetchrow(
            INSERT,
            policy_id,
            values["policy_number"],
            values["client_id"],
            values["deal_id"],
            values["owner_id"],
            values["status"],
            values["premium"],
            values["currency"],
            values["effective_from"],
            values["effective_to"],
            actor_id,
        )
        return None if row is None else _policy(row)


class PgPolicyReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, policy_id: UUID) -> Policy | None:
        row = await self._pool.fetchrow(SELECT_BY_ID + " AND NOT is_deleted", policy_id)
        return None if row is None else _policy(row)

    async def page(self, query: PolicyFilter) -> Page[Policy]:
        where = Where("NOT is_deleted")
        if query.deal_id:
            where.add("deal_id = {}", query.deal_id)
        if query.client_id:
            where.add("client_id = {}", query.client_id)
        if query.statuses is not None:
            where.add("status = ANY({}::text[])", sorted(s.value for s in query.statuses))
        if query.expiring_before:
            where.add("effective_to < {}", query.expiring_before)
        if query.search:
            where.add("policy_number ILIKE {}", contains_pattern(query.search))
        return await fetch_page(
            self._pool,
            source="crm.policies",
            columns=COLUMNS,
            where=where,
            page=query.page,
            order=ORDER,
            to_model=_policy,
        )
