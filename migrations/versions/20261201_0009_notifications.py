# ruff: noqa: RUF001  (the built-in templates are in Russian)
"""notification templates (with the built-in ru-RU ones), notifications, deliveries and attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 18:00:00
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The built-in templates of the occasions crm-worker notifies of, over the payload fields each sends.
SEED_NAMESPACE = uuid.UUID("5b0d6c1e-2f7a-4f0e-9d1c-6a1e0c9b7a01")
SEED_LOCALE = "ru-RU"
SEEDS = {
    "task.reminder": (
        "Напоминание: {{ title }}\n"
        "Время напоминания: {{ remind_at }}"
        "{% if due_at %}\nСрок: {{ due_at }}{% endif %}"
        "{% if deal_id %}\nСделка: {{ deal_id }}{% endif %}\n"
        "Задача: {{ task_id }}"
    ),
    "payment.due": (
        "Скоро платёж №{{ sequence }} по полису {{ policy_number }}: "
        "{{ planned_amount }} {{ currency }} до {{ planned_date }}."
    ),
    "payment.overdue": (
        "Просрочен платёж №{{ sequence }} по полису {{ policy_number }}: "
        "{{ planned_amount }} {{ currency }}, срок был {{ planned_date }}."
    ),
    "policy.renewal": (
        "Полис {{ policy_number }} заканчивается {{ effective_to }}. Пора продлевать"
        "{% if renewal_task_id %}: задача {{ renewal_task_id }}{% endif %}."
    ),
}
CHANNELS = ("telegram", "sse")


def _seed_id(key: str, channel: str) -> uuid.UUID:
    return uuid.uuid5(SEED_NAMESPACE, f"{key}/{channel}/{SEED_LOCALE}")


def upgrade() -> None:
    templates = op.create_table(
        "notification_templates",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False),
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("updated_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.CheckConstraint("channel IN ('sse', 'telegram')", name=op.f("ck_notification_templates_channel")),
        sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f("ck_notification_templates_status")),
        sa.CheckConstraint("version > 0", name=op.f("ck_notification_templates_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        schema="crm",
    )
    op.create_index(
        "uq_notification_templates_key_channel_locale",
        "notification_templates",
        ["key", "channel", "locale"],
        unique=True,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index(
        "ix_notification_templates_list_order",
        "notification_templates",
        ["key", "channel", "locale", "id"],
        unique=False,
        schema="crm",
    )
    op.create_table(
        "notifications",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=False),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "recipients", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("channel_overrides", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("deduplication_key", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'processed', 'delivered', 'failed')", name=op.f("ck_notifications_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("deduplication_key", name="uq_notifications_deduplication_key"),
        schema="crm",
    )
    op.create_index("ix_notifications_list_order", "notifications", ["created_at", "id"], unique=False, schema="crm")
    op.create_index(
        "ix_notifications_status_list_order",
        "notifications",
        ["status", "created_at", "id"],
        unique=False,
        schema="crm",
    )
    op.create_index("ix_notifications_created_by_id", "notifications", ["created_by_id"], unique=False, schema="crm")
    op.create_table(
        "notification_deliveries",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("notification_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("telegram_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taken", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('sse', 'telegram')", name=op.f("ck_notification_deliveries_channel")),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f("ck_notification_deliveries_status")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["crm.notifications.id"],
            name=op.f("fk_notification_deliveries_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        schema="crm",
    )
    op.create_index(
        "ix_notification_deliveries_notification_id",
        "notification_deliveries",
        ["notification_id"],
        unique=False,
        schema="crm",
    )
    op.create_index(
        "ix_notification_deliveries_user_id",
        "notification_deliveries",
        ["user_id", "notification_id"],
        unique=False,
        schema="crm",
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["next_attempt_at"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("delivery_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("notification_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('delivered', 'failed')", name=op.f("ck_notification_attempts_status")),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["crm.notification_deliveries.id"],
            name=op.f("fk_notification_attempts_delivery_id_notification_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["crm.notifications.id"],
            name=op.f("fk_notification_attempts_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
        schema="crm",
    )
    op.create_index(
        "ix_notification_attempts_notification_id",
        "notification_attempts",
        ["notification_id", "at"],
        unique=False,
        schema="crm",
    )
    op.create_index(
        "ix_notification_attempts_delivery_id", "notification_attempts", ["delivery_id"], unique=False, schema="crm"
    )
    op.bulk_insert(
        templates,
        [
            {
                "id": _seed_id(key, channel),
                "key": key,
                "channel": channel,
                "locale": SEED_LOCALE,
                "body": body,
                "metadata": json.loads('{"built_in": true}'),
                "status": "active",
            }
            for key, body in SEEDS.items()
            for channel in CHANNELS
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_notification_attempts_delivery_id", table_name="notification_attempts", schema="crm")
    op.drop_index("ix_notification_attempts_notification_id", table_name="notification_attempts", schema="crm")
    op.drop_table("notification_attempts", schema="crm")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries", schema="crm")
    op.drop_index("ix_notification_deliveries_user_id", table_name="notification_deliveries", schema="crm")
    op.drop_index("ix_notification_deliveries_notification_id", table_name="notification_deliveries", schema="crm")
    op.drop_table("notification_deliveries", schema="crm")
    op.drop_index("ix_notifications_created_by_id", table_name="notifications", schema="crm")
    op.drop_index("ix_notifications_status_list_order", table_name="notifications", schema="crm")
    op.drop_index("ix_notifications_list_order", table_name="notifications", schema="crm")
    op.drop_table("notifications", schema="crm")
    op.drop_index("ix_notification_templates_list_order", table_name="notification_templates", schema="crm")
    op.drop_index("uq_notification_templates_key_channel_locale", table_name="notification_templates", schema="crm")
    op.drop_table("notification_templates", schema="crm")
