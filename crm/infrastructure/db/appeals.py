"""Leads, appeals and the assignment log in PostgreSQL, through asyncpg.

Who sees what (``crm.domain.access.sees_every_appeal``) as SQL: admins and managers everything; anyone else the
appeals assigned to the operator they are, and those appeals' leads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from crm.domain.access import Access
from crm.domain.leads.appeals import Appeal, AppealFilter, Assignment, Lead, LeadCreate, LeadFilter
from crm.domain.leads.distribution import Candidate, Plan
from crm.domain.leads.repository import LeadChange, Room, SourceIntake
from crm.domain.pagination import Page
from crm.infrastructure.db.leads import TAKE_SLOT_OF
from crm.infrastructure.db.models import AppealRow, LeadRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern
from crm.infrastructure.db.tables import TableSql

LEADS = TableSql(LeadRow, fixed=("external_id",))
APPEALS = TableSql(AppealRow)
LEAD_ORDER = ListOrder("leads", ("created_at", "id"), (datetime, UUID), descending=True)
APPEAL_ORDER = ListOrder("appeals", ("created_at", "id"), (datetime, UUID), descending=True)

# The caller's appeals: those assigned to the live operator they are ({} is their id).
OWN_APPEALS = "operator_id IN (SELECT id FROM crm.operators WHERE user_id = {} AND NOT is_deleted)"
OWN_LEADS = f"id IN (SELECT lead_id FROM crm.appeals WHERE {OWN_APPEALS})"

# A contact field is filled when the lead has none and the contact brings one; the lead changes (a new version)
# only then.
_FILLS = " OR ".join(f"(l.{c} IS NULL AND EXCLUDED.{c} IS NOT NULL)" for c in ("name", "phone", "email"))
TAKE_IN = f"""
INSERT INTO crm.leads AS l (id, external_id, name, phone, email, created_by_id, updated_by_id)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (external_id) WHERE NOT is_deleted DO UPDATE
SET name = COALESCE(l.name, EXCLUDED.name),
    phone = COALESCE(l.phone, EXCLUDED.phone),
    email = COALESCE(l.email, EXCLUDED.email),
    version = l.version + CASE WHEN {_FILLS} THEN 1 ELSE 0 END,
    updated_at = CASE WHEN {_FILLS} THEN now() ELSE l.updated_at END,
    updated_by_id = CASE WHEN {_FILLS} THEN EXCLUDED.updated_by_id ELSE l.updated_by_id END
RETURNING {LEADS.columns}, (xmax = 0) AS inserted, (xmax <> 0 AND l.updated_at = now()) AS filled
"""

# A source's listed live operators as distribution reads them: one array per column, in operator id order (so a
# seeded draw is repeatable). Plain arrays cost the database far less than building JSON objects.
CANDIDATE_ARRAYS = """
SELECT array_agg(o.id ORDER BY o.id) AS ids, array_agg(w.weight ORDER BY o.id) AS weights,
       array_agg(o.load ORDER BY o.id) AS loads, array_agg(o.max_load ORDER BY o.id) AS max_loads,
       array_agg(o.active ORDER BY o.id) AS actives, array_agg(o.working_hours::text ORDER BY o.id) AS hours,
       array_agg(NULLIF(o.absences, '[]'::jsonb)::text ORDER BY o.id) AS absences
FROM crm.source_weights w JOIN crm.operators o ON o.id = w.operator_id AND NOT o.is_deleted
WHERE w.source_id = {source}
"""
CANDIDATES = CANDIDATE_ARRAYS.format(source="$1")
INTAKE = f"""
SELECT s.active,
       (SELECT a.operator_id FROM crm.appeals a
        WHERE s.sticky AND a.lead_id = $2 AND a.source_id = s.id AND a.status = 'open' AND a.operator_id IS NOT NULL
        ORDER BY a.created_at DESC LIMIT 1) AS sticky_operator_id,
       c.*
FROM crm.sources s, LATERAL ({CANDIDATE_ARRAYS.format(source="s.id")}) c
WHERE s.id = $1 AND NOT s.is_deleted
"""
# A new appeal and its decision's log row; $5 is its operator, or NULL while unassigned.
_NEW_APPEAL = f"""
appeal AS (
    INSERT INTO crm.appeals (id, lead_id, source_id, message, operator_id, assigned_at, created_by_id, updated_by_id)
    SELECT $1, $2, $3, $4, {{operator}}, CASE WHEN {{operator}} IS NOT NULL THEN now() END, $6, $6 {{source}}
    RETURNING {APPEALS.columns}
), logged AS (
    INSERT INTO crm.appeal_assignments (appeal_id, operator_id, reason, candidates, decided_by_id)
    SELECT id, operator_id, $7, $8::jsonb, $6 FROM appeal
)
SELECT * FROM appeal
"""
INSERT_UNASSIGNED = "WITH " + _NEW_APPEAL.format(operator="$5::uuid", source="")  # $5 is NULL
# The same, given to the operator $5 if their slot can be taken: no row when it cannot (the slot is lost).
INSERT_ASSIGNED = f"WITH slot AS ({TAKE_SLOT_OF.format(operator='$5')}),\n" + _NEW_APPEAL.format(
    operator="slot.id", source="FROM slot"
)
ASSIGN = f"""
WITH appeal AS (
    UPDATE crm.appeals
    SET operator_id = $2, assigned_at = CASE WHEN $2::uuid IS NOT NULL THEN $5::timestamptz END,
        first_action_at = COALESCE(first_action_at, $5), version = version + 1, updated_at = $5, updated_by_id = $3
    WHERE id = $1
    RETURNING {APPEALS.columns}
), logged AS (
    INSERT INTO crm.appeal_assignments
        (appeal_id, operator_id, previous_operator_id, reason, candidates, decided_by_id, decided_at)
    SELECT id, operator_id, $4, $6, $7::jsonb, $3, $5 FROM appeal
)
SELECT * FROM appeal
"""
CLOSE = f"""
UPDATE crm.appeals
SET status = 'closed', closed_at = $3, closed_by_id = $2, first_action_at = COALESCE(first_action_at, $3),
    resolution = $4, deal_id = $5, version = version + 1, updated_at = $3, updated_by_id = $2
WHERE id = $1
RETURNING {APPEALS.columns}
"""
# The oldest unassigned open appeals of the operator's weighted sources, to them; each decision logged with the
# operator as they stood (the load before the pull). An appeal the operator handed away is not theirs to pull.
PULL_BACKLOG = f"""
WITH picked AS (
    SELECT a.id, w.weight
    FROM crm.appeals a JOIN crm.source_weights w ON w.source_id = a.source_id AND w.operator_id = $1 AND w.weight > 0
    WHERE a.status = 'open' AND a.operator_id IS NULL
      -- never back to an operator who handed it away (a manager may still hand it to them by name)
      AND NOT EXISTS (
          SELECT 1 FROM crm.appeal_assignments x WHERE x.appeal_id = a.id AND x.previous_operator_id = $1)
    ORDER BY a.created_at, a.id
    LIMIT $2
    FOR UPDATE OF a SKIP LOCKED
), moved AS (
    UPDATE crm.appeals a
    SET operator_id = $1, assigned_at = $4, version = a.version + 1, updated_at = $4, updated_by_id = $3
    FROM picked WHERE a.id = picked.id
    RETURNING a.*, picked.weight
), logged AS (
    INSERT INTO crm.appeal_assignments (appeal_id, operator_id, reason, candidates, decided_by_id, decided_at)
    SELECT id, $1, 'backlog',
           jsonb_build_array(jsonb_build_object('operator_id', $1::uuid, 'weight', weight, 'load', $5::int,
                                                'max_load', $6::int, 'excluded', NULL)),
           $3, $4
    FROM moved
)
SELECT {APPEALS.columns} FROM moved ORDER BY created_at, id
"""
ASSIGNMENT_COLUMNS = "appeal_id, operator_id, previous_operator_id, reason, candidates, decided_at, decided_by_id"
ASSIGNMENTS = f"SELECT {ASSIGNMENT_COLUMNS} FROM crm.appeal_assignments WHERE appeal_id = $1 ORDER BY id"
# The same, when the appeal is one the caller sees ({condition} on crm.appeals, its caller parameter $2).
SEEN_ASSIGNMENTS = f"""
SELECT {ASSIGNMENT_COLUMNS} FROM crm.appeal_assignments
WHERE appeal_id = $1 AND EXISTS (SELECT 1 FROM crm.appeals WHERE id = $1 AND {{condition}})
ORDER BY id
"""
WAITING_OPERATORS = """
SELECT o.id FROM crm.operators o
WHERE o.active AND NOT o.is_deleted AND o.load < o.max_load
  AND EXISTS (
      SELECT 1 FROM crm.source_weights w
      JOIN crm.appeals a ON a.source_id = w.source_id AND a.status = 'open' AND a.operator_id IS NULL
      WHERE w.operator_id = o.id AND w.weight > 0)
ORDER BY o.load::float8 / o.max_load, o.id
"""


def _lead(row: asyncpg.Record) -> Lead:
    return Lead.model_validate(dict(row))


def _appeal(row: asyncpg.Record) -> Appeal:
    return Appeal.model_validate(dict(row))


def _assignment(row: asyncpg.Record) -> Assignment:
    return Assignment.model_validate({**dict(row), "candidates": orjson.loads(row["candidates"])})


def source_intake(row: asyncpg.Record) -> SourceIntake:
    """What ``INTAKE`` read, as distribution takes it."""
    return SourceIntake(row["active"], row["sticky_operator_id"], candidates_of(row))


def candidates_of(row: asyncpg.Record) -> list[Candidate]:
    """The candidates of a row of ``CANDIDATE_ARRAYS`` (no arrays at all when the source lists nobody)."""
    if row["ids"] is None:
        return []
    return [
        Candidate(
            operator_id=operator_id,
            weight=weight,
            load=load,
            max_load=max_load,
            active=active,
            working_hours=None if hours is None else orjson.loads(hours),
            absences=() if absences is None else orjson.loads(absences),
        )
        for operator_id, weight, load, max_load, active, hours, absences in zip(
            row["ids"],
            row["weights"],
            row["loads"],
            row["max_loads"],
            row["actives"],
            row["hours"],
            row["absences"],
            strict=True,
        )
    ]


def decision_log(decision: Plan) -> str:
    """The decision's candidates as the log stores them (JSON)."""
    return orjson.dumps(decision.candidates, default=str).decode()  # asyncpg's UUIDs are not the stdlib's


class PgLeadRepository(RecordRepository[Lead]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, LEADS, _lead, access=access)

    async def get_for_update(self, record_id: UUID) -> Lead | None:
        where = Where()
        where.add("id = {}", record_id)
        if not self._access.everything:
            where.add(OWN_LEADS, self._access.user_id)
        row = await self._conn.fetchrow(f"{LEADS.select} WHERE {where.sql} FOR UPDATE", *where.params)
        return None if row is None else _lead(row)

    async def take_in(self, contact: LeadCreate, actor_id: UUID | None) -> tuple[Lead, LeadChange | None]:
        row = await self._conn.fetchrow(
            TAKE_IN, uuid4(), contact.external_id, contact.name, contact.phone, contact.email, actor_id
        )
        assert row is not None
        # xmax is 0 on a row this statement inserted; an updated one carries the locking transaction's id.
        change = LeadChange.CREATED if row["inserted"] else LeadChange.UPDATED if row["filled"] else None
        return _lead(row), change


class PgAppealRepository(RecordRepository[Appeal]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, APPEALS, _appeal, access=access)

    async def get_for_update(self, record_id: UUID) -> Appeal | None:
        where = Where()
        where.add("id = {}", record_id)
        if not self._access.everything:
            where.add(OWN_APPEALS, self._access.user_id)
        row = await self._conn.fetchrow(f"{APPEALS.select} WHERE {where.sql} FOR UPDATE", *where.params)
        return None if row is None else _appeal(row)

    async def intake(self, source_id: UUID, lead_id: UUID) -> SourceIntake | None:
        row = await self._conn.fetchrow(INTAKE, source_id, lead_id)
        return None if row is None else source_intake(row)

    async def candidates(self, source_id: UUID) -> list[Candidate]:
        row = await self._conn.fetchrow(CANDIDATES, source_id)
        return [] if row is None else candidates_of(row)

    async def insert(
        self, appeal_id: UUID, values: Mapping[str, Any], decision: Plan, actor_id: UUID | None
    ) -> Appeal | None:
        statement = INSERT_UNASSIGNED if decision.operator_id is None else INSERT_ASSIGNED
        row = await self._conn.fetchrow(
            statement,
            appeal_id,
            values["lead_id"],
            values["source_id"],
            values.get("message"),
            decision.operator_id,
            actor_id,
            decision.reason.value,
            decision_log(decision),
        )
        return None if row is None else _appeal(row)

    async def assign(
        self, appeal_id: UUID, decision: Plan, previous: UUID | None, actor_id: UUID | None, at: datetime
    ) -> Appeal:
        row = await self._conn.fetchrow(
            ASSIGN,
            appeal_id,
            decision.operator_id,
            actor_id,
            previous,
            at,
            decision.reason.value,
            decision_log(decision),
        )
        assert row is not None
        return _appeal(row)

    async def pull_backlog(self, room: Room, limit: int, actor_id: UUID | None, at: datetime) -> list[Appeal]:
        operator = room.candidate
        rows = await self._conn.fetch(
            PULL_BACKLOG, operator.operator_id, limit, actor_id, at, operator.load, operator.max_load
        )
        return [_appeal(row) for row in rows]

    async def close(
        self, appeal_id: UUID, resolution: str | None, deal_id: UUID | None, actor_id: UUID | None, at: datetime
    ) -> Appeal:
        row = await self._conn.fetchrow(CLOSE, appeal_id, actor_id, at, resolution, deal_id)
        assert row is not None
        return _appeal(row)

    async def assignments(self, appeal_id: UUID) -> list[Assignment]:
        return [_assignment(row) for row in await self._conn.fetch(ASSIGNMENTS, appeal_id)]


def _sees(access: Access, where: Where, condition: str) -> None:
    if not access.everything:
        where.add(condition, access.user_id)


class PgLeadReader(RecordReader[Lead]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, LEADS, _lead, LEAD_ORDER)

    async def get(self, lead_id: UUID, access: Access) -> Lead | None:
        where = Where("NOT is_deleted")
        where.add("id = {}", lead_id)
        _sees(access, where, OWN_LEADS)
        row = await self._pool.fetchrow(f"{LEADS.select} WHERE {where.sql}", *where.params)
        return None if row is None else _lead(row)

    async def page(self, query: LeadFilter, access: Access) -> Page[Lead]:
        where = Where("NOT is_deleted")
        if query.search:
            pattern = contains_pattern(query.search)
            where.add("(external_id ILIKE {0} OR name ILIKE {0} OR email ILIKE {0} OR phone ILIKE {0})", pattern)
        if query.converted is not None:
            where.add("client_id IS NOT NULL" if query.converted else "client_id IS NULL")
        _sees(access, where, OWN_LEADS)
        return await self._page(where, query.page, access)


class PgAppealReader(RecordReader[Appeal]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, APPEALS, _appeal, APPEAL_ORDER)

    async def get(self, appeal_id: UUID, access: Access) -> Appeal | None:
        where = Where()
        where.add("id = {}", appeal_id)
        _sees(access, where, OWN_APPEALS)
        row = await self._pool.fetchrow(f"{APPEALS.select} WHERE {where.sql}", *where.params)
        return None if row is None else _appeal(row)

    async def page(self, query: AppealFilter, access: Access) -> Page[Appeal]:
        where = Where()
        for column in ("source_id", "operator_id", "lead_id"):
            value = getattr(query, column)
            if value is not None:
                where.add(f"{column} = {{}}", value)
        if query.status is not None:
            where.add("status = {}", query.status.value)
        if query.unassigned is not None:
            where.add("operator_id IS NULL" if query.unassigned else "operator_id IS NOT NULL")
        _sees(access, where, OWN_APPEALS)
        return await self._page(where, query.page, access)

    async def assignments(self, appeal_id: UUID, access: Access) -> list[Assignment]:
        if access.everything:
            rows = await self._pool.fetch(ASSIGNMENTS, appeal_id)
        else:
            statement = SEEN_ASSIGNMENTS.format(condition=OWN_APPEALS.format("$2"))
            rows = await self._pool.fetch(statement, appeal_id, access.user_id)
        return [_assignment(row) for row in rows]

    async def operators_with_room_for_backlog(self) -> list[UUID]:
        return [row["id"] for row in await self._pool.fetch(WAITING_OPERATORS)]
