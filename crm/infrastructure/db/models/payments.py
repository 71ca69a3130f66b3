"""Payments of a policy, their incomes and expenses, and the history of all three."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

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
    # The planned date for which crm-worker has checked (and, if it was overdue, announced) the payment, so it
    # looks at each planned date once.
    overdue_checked_for: Mapped[date | None] = mapped_column(Date)
    # The planned date for which crm-worker has sent its due notice (payment.due), so it fires once per date.
    due_noticed_for: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("planned_amount > 0", name="planned_amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint("net_total = incomes_total - expenses_total", name="net_total"),
        CheckConstraint("sequence > 0", name="sequence_positive"),
        CheckConstraint("version > 0", name="version_positive"),
        UniqueConstraint("policy_id", "sequence", name="uq_payments_policy_id_sequence"),
        # Only the payments the overdue check has still to look at: each leaves it once checked.
        Index(
            "ix_payments_unchecked_planned_date",
            "planned_date",
            postgresql_where=text("NOT is_deleted AND overdue_checked_for IS DISTINCT FROM planned_date"),
        ),
        # Only the payments whose due notice is still to come (crm.domain.occasions.payments).
        Index(
            "ix_payments_due_unnoticed_planned_date",
            "planned_date",
            postgresql_where=text("NOT is_deleted AND due_noticed_for IS DISTINCT FROM planned_date"),
        ),
    )


def _line_table_args(table: str, categories: tuple[str, ...]) -> tuple[Any, ...]:
    return (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # A negative line is a correction (refund, write-off) and must say why.
        CheckConstraint("amount > 0 OR (note IS NOT NULL AND length(trim(note)) > 0)", name="correction_needs_note"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint(one_of("category", categories), name="category"),
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
    __table_args__ = (
        *_line_table_args("payment_incomes", INCOME_CATEGORIES),
        # The analytics' income by month: the incomes posted in a period.
        Index("ix_payment_incomes_posted_at", "posted_at", postgresql_where=text("NOT is_deleted")),
    )


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
