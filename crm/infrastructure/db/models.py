"""Table definitions: the schema Alembic migrates to, and that autogenerate compares against.

Requests read and write through asyncpg (see ``sql``); these models define the schema only, so the
columns here and the SQL in the repositories must agree (the integration tests exercise both).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATERANGE, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "crm"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


class RecordColumns:
    """Columns every business record has: audit, optimistic version, soft delete."""

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    is_deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class ClientRow(RecordColumns, Base):
    __tablename__ = "clients"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive', 'prospect')", name="status"),
        CheckConstraint("version > 0", name="version_positive"),
        # Default list order: newest first, live rows only.
        Index("ix_clients_list_order", "created_at", "id", postgresql_where=text("NOT is_deleted")),
        Index("ix_clients_owner_id", "owner_id"),
    )


class DealRow(RecordColumns, Base):
    __tablename__ = "deals"

    client_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("clients.id", ondelete="RESTRICT"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    next_review_at: Mapped[date] = mapped_column(Date, nullable=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'qualification', 'in_progress', 'proposal', 'won', 'lost')", name="status"
        ),
        CheckConstraint("version > 0", name="version_positive"),
        Index("ix_deals_client_id", "client_id"),
        # The list order (next_review_at, updated_at, id), live rows only; with the status and owner
        # variants the common filters stay index scans in that order.
        Index(
            "ix_deals_list_order",
            "next_review_at",
            "updated_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
        Index(
            "ix_deals_status_list_order",
            "status",
            "next_review_at",
            "updated_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
        Index(
            "ix_deals_owner_list_order",
            "owner_id",
            "next_review_at",
            "updated_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
    )


class OutboxRow(Base):
    """One CloudEvent waiting for (or done with) publication; ``id`` is the event's sequence."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    aggregate_type: Mapped[str] = mapped_column(String(64), nullable=False)
    aggregate_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    routing_key: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_aggregate", "aggregate_type", "aggregate_id", "id"),
    )


class IdempotencyKeyRow(Base):
    """A POST made with an ``Idempotency-Key``: claimed in the transaction of its change, then answered."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)


# --- Deal lifecycle: policies, calculations (quotes), journal, policy documents, tasks ----------------

POLICY_STATUSES = ("draft", "active", "pending_renewal", "expired", "cancelled", "closed")
CALCULATION_STATUSES = ("draft", "ready", "confirmed", "archived")
TASK_STATUSES = ("pending", "scheduled", "in_progress", "completed", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PolicyRow(RecordColumns, Base):
    """An issued insurance policy. Its calculation is found through ``calculations.linked_policy_id``."""

    __tablename__ = "policies"

    policy_number: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("clients.id", ondelete="RESTRICT"), nullable=False
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"), nullable=False
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    premium: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    effective_to: Mapped[date] = mapped_column(Date, nullable=False)

    __table_args__ = (
        CheckConstraint(_one_of("status", POLICY_STATUSES), name="status"),
        CheckConstraint("premium >= 0", name="premium_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint("effective_to >= effective_from", name="period_ordered"),
        CheckConstraint("version > 0", name="version_positive"),
        Index("ix_policies_client_id", "client_id"),
        Index("ix_policies_deal_id", "deal_id"),
        Index("ix_policies_list_order", "created_at", "id", postgresql_where=text("NOT is_deleted")),
        Index("ix_policies_effective_to", "effective_to", postgresql_where=text("NOT is_deleted")),
    )


class CalculationRow(RecordColumns, Base):
    """An insurer's offer (quote) within a deal; a confirmed one may be linked to one policy."""

    __tablename__ = "calculations"

    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"), nullable=False
    )
    insurance_company: Mapped[str] = mapped_column(String(255), nullable=False)
    program_name: Mapped[str | None] = mapped_column(String(255))
    premium_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    coverage_sum: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    # Stored half-open ([start, end + 1 day)) as PostgreSQL canonicalises dateranges; served inclusive.
    validity_period: Mapped[Any | None] = mapped_column(DATERANGE)
    files: Mapped[list[str]] = mapped_column(
        ARRAY(String(1024)), nullable=False, server_default=text("'{}'::character varying[]")
    )
    comments: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    linked_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("policies.id", ondelete="RESTRICT"), unique=True
    )

    __table_args__ = (
        CheckConstraint(_one_of("status", CALCULATION_STATUSES), name="status"),
        CheckConstraint("premium_amount >= 0", name="premium_not_negative"),
        CheckConstraint("coverage_sum >= 0", name="coverage_not_negative"),
        CheckConstraint(
            "linked_policy_id IS NULL OR status = 'confirmed' OR status = 'archived'", name="link_needs_confirmed"
        ),
        CheckConstraint("version > 0", name="version_positive"),
        Index(
            "ix_calculations_deal_list_order", "deal_id", "created_at", "id", postgresql_where=text("NOT is_deleted")
        ),
    )


class JournalEntryRow(Base):
    """An append-only note on a deal."""

    __tablename__ = "deal_journal"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"), nullable=False
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("char_length(body) BETWEEN 1 AND 5000", name="body_length"),
        Index("ix_deal_journal_deal_list_order", "deal_id", "created_at", "id"),
    )


class PolicyDocumentRow(Base):
    """A link from a policy to a document held by the Documents service (no cross-service key)."""

    __tablename__ = "policy_documents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    policy_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("policies.id", ondelete="RESTRICT"), nullable=False
    )
    document_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        # Also the index for policy_id lookups and the list order within a policy.
        UniqueConstraint("policy_id", "document_id", name="uq_policy_documents_policy_id_document_id"),
        Index("ix_policy_documents_policy_list_order", "policy_id", "created_at", "id"),
    )


class TaskStatusRow(Base):
    """Reference list of task statuses, seeded by the migration."""

    __tablename__ = "task_statuses"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    is_final: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class TaskRow(RecordColumns, Base):
    __tablename__ = "tasks"

    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), ForeignKey("task_statuses.code"), nullable=False)
    priority: Mapped[str] = mapped_column(String(8), nullable=False, server_default=text("'normal'"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"))
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("clients.id", ondelete="RESTRICT")
    )
    policy_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("policies.id", ondelete="RESTRICT")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id", ondelete="RESTRICT")
    )
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        CheckConstraint("priority IN ('low', 'normal', 'high')", name="priority"),
        CheckConstraint("version > 0", name="version_positive"),
        Index(
            "ix_tasks_list_order",
            text("due_at ASC NULLS LAST"),
            "created_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
        Index("ix_tasks_assignee_id", "assignee_id"),
        Index("ix_tasks_deal_id", "deal_id"),
        Index("ix_tasks_client_id", "client_id"),
        Index("ix_tasks_policy_id", "policy_id"),
        Index("ix_tasks_payment_id", "payment_id"),
        Index("ix_tasks_status_scheduled_for", "status", "scheduled_for"),
    )


class TaskReminderRow(Base):
    __tablename__ = "task_reminders"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False
    )
    remind_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("channel IN ('sse', 'telegram')", name="channel"),
        UniqueConstraint("task_id", "remind_at", "channel", name="uq_task_reminders_task_id_remind_at_channel"),
        Index("ix_task_reminders_due", "remind_at", postgresql_where=text("sent_at IS NULL")),
    )


# --- Payments: instalments of a policy, their incomes and expenses, and the history of all three -------

INCOME_CATEGORIES = ("premium", "commission", "installment", "bonus", "refund", "other")
EXPENSE_CATEGORIES = ("client_discount", "colleague_payout", "agent_fee", "processing", "refund", "other")


class PaymentRow(RecordColumns, Base):
    """One instalment. Its totals are kept equal to the sums of its live lines by the repository, which
    recomputes them under a row lock on the payment; status is derived on read, except ``cancelled``."""

    __tablename__ = "payments"

    policy_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("policies.id", ondelete="RESTRICT"), nullable=False
    )
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    planned_date: Mapped[date] = mapped_column(Date, nullable=False)
    planned_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    actual_date: Mapped[date | None] = mapped_column(Date)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    incomes_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, server_default=text("0"))
    expenses_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, server_default=text("0"))
    net_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, server_default=text("0"))

    __table_args__ = (
        CheckConstraint("planned_amount > 0", name="planned_amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint("net_total = incomes_total - expenses_total", name="net_total"),
        CheckConstraint("sequence > 0", name="sequence_positive"),
        CheckConstraint("version > 0", name="version_positive"),
        UniqueConstraint("policy_id", "sequence", name="uq_payments_policy_id_sequence"),
        Index("ix_payments_planned_date", "planned_date", postgresql_where=text("NOT is_deleted")),
    )


def _line_table_args(table: str, categories: tuple[str, ...]) -> tuple[Any, ...]:
    return (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # A negative line is a correction (refund, write-off) and must say why.
        CheckConstraint("amount > 0 OR (note IS NOT NULL AND length(trim(note)) > 0)", name="correction_needs_note"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint(_one_of("category", categories), name="category"),
        CheckConstraint("version > 0", name="version_positive"),
        Index(f"ix_{table}_payment_list_order", "payment_id", "posted_at", "created_at", "id"),
    )


class _PaymentLineColumns(RecordColumns):
    payment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id", ondelete="RESTRICT"), nullable=False
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    category: Mapped[str] = mapped_column(String(24), nullable=False)
    posted_at: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)


class PaymentIncomeRow(_PaymentLineColumns, Base):
    __tablename__ = "payment_incomes"
    __table_args__ = _line_table_args("payment_incomes", INCOME_CATEGORIES)


class PaymentExpenseRow(_PaymentLineColumns, Base):
    __tablename__ = "payment_expenses"
    __table_args__ = _line_table_args("payment_expenses", EXPENSE_CATEGORIES)


class PaymentHistoryRow(Base):
    """Append-only: each change of a payment or one of its lines, with the record before and after."""

    __tablename__ = "payment_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id", ondelete="RESTRICT"), nullable=False
    )
    entity: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint("entity IN ('payment', 'income', 'expense')", name="entity"),
        CheckConstraint("action IN ('created', 'updated', 'deleted', 'restored')", name="action"),
        Index("ix_payment_history_payment_list_order", "payment_id", text("id DESC")),
    )
