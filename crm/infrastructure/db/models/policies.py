"""Policies and the documents linked to them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

POLICY_STATUSES = ("draft", "active", "pending_renewal", "expired", "cancelled", "closed")
UNISSUED_STATUSES = ("draft", "cancelled")


class PolicyRow(RecordColumns, Base):
    """An insurance policy, from its draft (recorded before it is issued, premium and cover dates still open)
    on. Its calculation is found through ``calculations.linked_policy_id``."""

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
    premium: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    # The end date for which crm-worker has asked for the renewal (policy.renewal), so it fires once per end date.
    renewal_noticed_for: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint(one_of("status", POLICY_STATUSES), name="status"),
        CheckConstraint("premium >= 0", name="premium_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint("effective_to >= effective_from", name="period_ordered"),
        # The domain's rule (crm.domain.policies.rules), kept by the database too.
        CheckConstraint(
            f"{one_of('status', UNISSUED_STATUSES)}"
            " OR (premium IS NOT NULL AND effective_from IS NOT NULL AND effective_to IS NOT NULL)",
            name="issued_terms",
        ),
        CheckConstraint("version > 0", name="version_positive"),
        Index("ix_policies_client_id", "client_id"),
        Index("ix_policies_deal_id", "deal_id"),
        Index("ix_policies_list_order", "created_at", "id", postgresql_where=text("NOT is_deleted")),
        Index("ix_policies_effective_to", "effective_to", postgresql_where=text("NOT is_deleted")),
        # Only the policies whose renewal notice is still to come (crm.domain.occasions.renewals).
        Index(
            "ix_policies_renewal_unnoticed_effective_to",
            "effective_to",
            postgresql_where=text("NOT is_deleted AND renewal_noticed_for IS DISTINCT FROM effective_to"),
        ),
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
