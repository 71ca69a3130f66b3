"""Notification templates, notifications, deliveries and attempts in PostgreSQL, through asyncpg."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from crm.domain.access import Access
from crm.domain.notifications.records import (
    Attempt,
    Delivery,
    DeliveryResult,
    DeliveryState,
    DeliveryStatus,
    DueDelivery,
    NewNotification,
    Notification,
    NotificationFilter,
    NotificationStatus,
    NotificationSummary,
    RecipientView,
    StatusChange,
    notification_status,
)
from crm.domain.notifications.schemas import Channel
from crm.domain.notifications.templates import Template, TemplateFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.models import NotificationTemplateRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, fetch_page, required
from crm.infrastructure.db.tables import TableSql

TEMPLATES = TableSql(NotificationTemplateRow)
TEMPLATE_ORDER = ListOrder("templates", ("key", "channel", "locale", "id"), (str, str, str, UUID))
NOTIFICATION_ORDER = ListOrder("notifications", ("created_at", "id"), (datetime, UUID), descending=True)

# The first locale of $3 that has a live active template, per channel.
FIND_BODIES = """
SELECT DISTINCT ON (channel) channel, body
FROM crm.notification_templates
WHERE key = $1 AND channel = ANY($2::text[]) AND locale = ANY($3::text[]) AND status = 'active' AND NOT is_deleted
ORDER BY channel, array_position($3::text[], locale)
"""
# Rows go in in the order given: of two with one deduplication key, the first is recorded.
INSERT_NOTIFICATIONS = """
INSERT INTO crm.notifications
    (id, event_key, payload, recipients, channel_overrides, deduplication_key, status, created_by_id)
SELECT n.id, n.event_key, n.payload::jsonb, n.recipients::jsonb, n.channel_overrides::jsonb, n.deduplication_key,
       n.status, n.created_by_id
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::uuid[])
    WITH ORDINALITY AS n(id, event_key, payload, recipients, channel_overrides, deduplication_key, status,
                         created_by_id, position)
ORDER BY n.position
ON CONFLICT ON CONSTRAINT uq_notifications_deduplication_key DO NOTHING
RETURNING id
"""
INSERT_DELIVERIES = """
INSERT INTO crm.notification_deliveries
    (id, notification_id, channel, user_id, telegram_id, text, status, last_error, next_attempt_at)
SELECT d.id, d.notification_id, d.channel, d.user_id, d.telegram_id, d.text, d.status, d.last_error,
       CASE WHEN d.status = 'pending' THEN now() END
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[])
    AS d(id, notification_id, channel, user_id, telegram_id, text, status, last_error)
"""
# ix_notification_deliveries_due walks the pending ones by time; a lease still running means a worker holds it.
CLAIM_DUE = """
WITH due AS (
    SELECT id FROM crm.notification_deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE crm.notification_deliveries d
SET lease_until = $2, taken = true
FROM due, crm.notifications n
WHERE d.id = due.id AND n.id = d.notification_id
RETURNING d.id, d.notification_id, n.event_key, d.channel, d.user_id, d.telegram_id, d.text, d.attempts, d.lease_until
"""
INSERT_ATTEMPTS = """
INSERT INTO crm.notification_attempts (id, delivery_id, notification_id, status, error, at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[])
"""
# Only a pending delivery still under the lease it was claimed with changes: a worker whose lease ran out writes
# nothing over the claim that followed it (nor over a delivery that claim settled).
UPDATE_DELIVERIES = """
UPDATE crm.notification_deliveries d
SET status = r.status,
    attempts = d.attempts + 1,
    next_attempt_at = r.next_attempt_at,
    last_error = r.error,
    delivered_at = CASE WHEN r.status = 'delivered' THEN r.at END,
    lease_until = NULL
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::timestamptz[])
    AS r(id, status, next_attempt_at, error, at, lease_until)
WHERE d.id = r.id AND d.status = 'pending' AND d.lease_until = r.lease_until
RETURNING d.id
"""
LOCK_NOTIFICATIONS = "SELECT id, status FROM crm.notifications WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
DELIVERY_STATES = """
SELECT notification_id, status, taken FROM crm.notification_deliveries WHERE notification_id = ANY($1::uuid[])
"""
SET_STATUSES = """
UPDATE crm.notifications n SET status = s.status, updated_at = now()
FROM unnest($1::uuid[], $2::text[]) AS s(id, status)
WHERE n.id = s.id
"""
NOTIFICATION_COLUMNS = "id, event_key, status, payload, deduplication_key, created_by_id, created_at, updated_at"
SUMMARY_COLUMNS = "id, event_key, status, deduplication_key, created_by_id, created_at, updated_at"
DELIVERY_COLUMNS = (
    "id, channel, user_id, telegram_id, text, status, attempts, last_error, next_attempt_at, delivered_at, created_at"
)
ATTEMPTS = """
SELECT d.channel, d.user_id, d.telegram_id, a.status, a.error, a.at
FROM crm.notification_attempts a JOIN crm.notification_deliveries d ON d.id = a.delivery_id
WHERE a.notification_id = $1 {mine}
ORDER BY a.at, a.id
"""
PRUNE_FINISHED = """
DELETE FROM crm.notifications WHERE id IN (
    SELECT id FROM crm.notifications WHERE status IN ('delivered', 'processed', 'failed') AND updated_at < $1 LIMIT $2
)
"""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _template(row: asyncpg.Record) -> Template:
    values = dict(row)
    values["metadata"] = json.loads(values["metadata"])
    return Template.model_validate(values)


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _json(value) if name == "metadata" else value for name, value in values.items()}


def _recipient(user_id: UUID | None, telegram_id: str | None) -> RecipientView | None:
    if user_id is None and telegram_id is None:
        return None
    return RecipientView(user_id=user_id, telegram_id=telegram_id)


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"],
        channel=Channel(row["channel"]),
        recipient=_recipient(row["user_id"], row["telegram_id"]),
        text=row["text"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
        delivered_at=row["delivered_at"],
    )


def _attempt(row: asyncpg.Record) -> Attempt:
    return Attempt(
        channel=Channel(row["channel"]),
        recipient=_recipient(row["user_id"], row["telegram_id"]),
        status=DeliveryStatus(row["status"]),
        error=row["error"],
        at=row["at"],
    )


async def _notification(
    connection: Connection | asyncpg.Pool, row: asyncpg.Record, only_user: UUID | None
) -> Notification:
    """The notification of ``row`` with its deliveries and attempts (only ``only_user``'s, when given)."""
    mine, params = ("", [row["id"]]) if only_user is None else ("AND user_id = $2", [row["id"], only_user])
    deliveries = await connection.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM crm.notification_deliveries WHERE notification_id = $1 {mine} "
        "ORDER BY created_at, channel, id",
        *params,
    )
    attempts = await connection.fetch(ATTEMPTS.format(mine=mine.replace("user_id", "d.user_id")), *params)
    return Notification(
        id=row["id"],
        event_key=row["event_key"],
        status=NotificationStatus(row["status"]),
        payload=json.loads(row["payload"]),
        deduplication_key=row["deduplication_key"],
        created_by_id=row["created_by_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deliveries=[_delivery(d) for d in deliveries],
        attempts=[_attempt(a) for a in attempts],
    )


class PgTemplateRepository(RecordRepository[Template]):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, TEMPLATES, _template)

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> Template:
        return await super().add(record_id, _stored(values), actor_id)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> Template:
        return await super().update(record_id, _stored(changes), actor_id)

    async def find_bodies(self, key: str, channels: Sequence[Channel], locales: Sequence[str]) -> dict[Channel, str]:
        if not channels:
            return {}
        rows = await self._conn.fetch(FIND_BODIES, key, [c.value for c in channels], list(locales))
        return {Channel(row["channel"]): row["body"] for row in rows}


class PgTemplateReader(RecordReader[Template]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, TEMPLATES, _template, TEMPLATE_ORDER)

    async def get(self, template_id: UUID) -> Template | None:  # type: ignore[override]
        return await super().get(template_id, Access(user_id=None, everything=True))

    async def page(self, query: TemplateFilter) -> Page[Template]:
        where = Where("NOT is_deleted")
        for column in ("key", "locale"):
            if getattr(query, column) is not None:
                where.add(f"{column} = {{}}", getattr(query, column))
        if query.channel is not None:
            where.add("channel = {}", query.channel.value)
        if query.status is not None:
            where.add("status = {}", query.status.value)
        return await self._page(where, query.page, Access(user_id=None, everything=True))


class PgNotificationRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def add_all(self, notifications: Sequence[NewNotification]) -> set[UUID]:
        if not notifications:
            return set()
        rows = await self._conn.fetch(
            INSERT_NOTIFICATIONS,
            [n.id for n in notifications],
            [n.values["event_key"] for n in notifications],
            [_json(n.values["payload"]) for n in notifications],
            [_json(n.values["recipients"]) for n in notifications],
            [
                None if n.values["channel_overrides"] is None else _json(n.values["channel_overrides"])
                for n in notifications
            ],
            [n.values["deduplication_key"] for n in notifications],
            [n.status.value for n in notifications],
            [n.values["created_by_id"] for n in notifications],
        )
        recorded = {row["id"] for row in rows}
        deliveries = [(n.id, d) for n in notifications if n.id in recorded for d in n.deliveries]
        if deliveries:
            await self._conn.execute(
                INSERT_DELIVERIES,
                [uuid4() for _ in deliveries],
                [notification_id for notification_id, _ in deliveries],
                [d.channel.value for _, d in deliveries],
                [d.user_id for _, d in deliveries],
                [d.telegram_id for _, d in deliveries],
                [d.text for _, d in deliveries],
                [d.status.value for _, d in deliveries],
                [d.refusal for _, d in deliveries],
            )
        return recorded

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        rows = await self._conn.fetch(CLAIM_DUE, now, lease_until, limit)
        return [
            DueDelivery(
                id=row["id"],
                notification_id=row["notification_id"],
                event_key=row["event_key"],
                channel=Channel(row["channel"]),
                user_id=row["user_id"],
                telegram_id=row["telegram_id"],
                text=row["text"],
                attempts=row["attempts"],
                lease_until=row["lease_until"],
            )
            for row in rows
        ]

    async def record_results(self, results: Sequence[DeliveryResult]) -> set[UUID]:
        if not results:
            return set()
        rows = await self._conn.fetch(
            UPDATE_DELIVERIES,
            [r.delivery.id for r in results],
            [r.status.value for r in results],
            [r.next_attempt_at for r in results],
            [r.outcome.error for r in results],
            [r.at for r in results],
            [r.delivery.lease_until for r in results],
        )
        recorded = {row["id"] for row in rows}
        fenced = [r for r in results if r.delivery.id in recorded]
        await self._conn.execute(
            INSERT_ATTEMPTS,
            [uuid4() for _ in fenced],
            [r.delivery.id for r in fenced],
            [r.delivery.notification_id for r in fenced],
            ["delivered" if r.outcome.delivered else "failed" for r in fenced],
            [r.outcome.error for r in fenced],
            [r.at for r in fenced],
        )
        return recorded

    async def settle(self, notification_ids: Sequence[UUID]) -> list[StatusChange]:
        if not notification_ids:
            return []
        current = {
            row["id"]: NotificationStatus(row["status"])
            for row in await self._conn.fetch(LOCK_NOTIFICATIONS, list(notification_ids))
        }
        states: dict[UUID, list[DeliveryState]] = defaultdict(list)
        for row in await self._conn.fetch(DELIVERY_STATES, list(current)):
            states[row["notification_id"]].append(DeliveryState(DeliveryStatus(row["status"]), row["taken"]))
        changes = [
            StatusChange(notification_id, old, new)
            for notification_id, old in current.items()
            if (new := notification_status(states[notification_id])) != old
        ]
        if changes:
            await self._conn.execute(SET_STATUSES, [c.notification_id for c in changes], [c.new.value for c in changes])
        return changes

    async def load(self, notification_id: UUID) -> Notification:
        row = required(
            await self._conn.fetchrow(
                f"SELECT {NOTIFICATION_COLUMNS} FROM crm.notifications WHERE id = $1", notification_id
            )
        )
        return await _notification(self._conn, row, None)

    async def prune_finished(self, before: datetime, limit: int) -> int:
        status = await self._conn.execute(PRUNE_FINISHED, before, limit)
        return int(status.split()[-1])


def _visible(access: Access, where: Where) -> None:
    """A caller sees what they sent and what is addressed to them; admins and managers see everything."""
    if access.everything:
        return
    if access.user_id is None:
        where.conditions.append("FALSE")
        return
    user = where.param(access.user_id)
    where.conditions.append(
        f"(created_by_id = {user} OR id IN "
        f"(SELECT notification_id FROM crm.notification_deliveries WHERE user_id = {user}))"
    )


def _summary(row: asyncpg.Record) -> NotificationSummary:
    return NotificationSummary.model_validate(dict(row))


class PgNotificationReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, notification_id: UUID, access: Access) -> Notification | None:
        where = Where()
        where.add("id = {}", notification_id)
        _visible(access, where)
        row = await self._pool.fetchrow(
            f"SELECT {NOTIFICATION_COLUMNS} FROM crm.notifications WHERE {where.sql}", *where.params
        )
        if row is None:
            return None
        mine_only = not access.everything and row["created_by_id"] != access.user_id
        return await _notification(self._pool, row, access.user_id if mine_only else None)

    async def page(self, query: NotificationFilter, access: Access) -> Page[NotificationSummary]:
        where = Where()
        if query.statuses is not None:
            where.add("status = ANY({}::text[])", sorted(s.value for s in query.statuses))
        if query.recipient_id is not None:
            where.add(
                "id IN (SELECT notification_id FROM crm.notification_deliveries WHERE user_id = {})",
                query.recipient_id,
            )
        _visible(access, where)
        return await fetch_page(
            self._pool,
            source="crm.notifications",
            columns=SUMMARY_COLUMNS,
            where=where,
            page=query.page,
            order=NOTIFICATION_ORDER,
            to_model=_summary,
        )
