"""Payments: instalments of a policy, the money in (incomes) and out (expenses) of each, and their history."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.money import Amount, Currency, NonZeroAmount, PositiveAmount
from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.types import Day, Text
from crm.domain.versioning import PatchBody


class PaymentStatus(StrEnum):
    SCHEDULED = "scheduled"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class IncomeCategory(StrEnum):
    PREMIUM = "premium"
    COMMISSION = "commission"
    INSTALLMENT = "installment"
    BONUS = "bonus"
    REFUND = "refund"
    OTHER = "other"


class ExpenseCategory(StrEnum):
    CLIENT_DISCOUNT = "client_discount"
    COLLEAGUE_PAYOUT = "colleague_payout"
    AGENT_FEE = "agent_fee"
    PROCESSING = "processing"
    REFUND = "refund"
    OTHER = "other"


LineKind = Literal["income", "expense"]


Note = Annotated[str, Text(max_length=2000)]
PlannedAmount = PositiveAmount
LineAmount = NonZeroAmount


class PaymentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"planned_date": "2027-01-15", "planned_amount": "1000.00", "currency": "RUB"}]
        },
    )

    planned_date: Day
    planned_amount: PlannedAmount
    currency: Currency | None = Field(default=None, description="ISO 4217; the policy's currency when absent.")
    actual_date: Day | None = Field(default=None, description="Not before `planned_date`, not after today.")
    comment: Note | None = None


class PaymentUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"planned_amount": "1200.00"}]})

    planned_date: Day | None = None
    planned_amount: PlannedAmount | None = None
    currency: Currency | None = None
    actual_date: Day | None = None
    comment: Note | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"planned_date", "planned_amount", "currency"})


class PaymentLine(Record):
    """An income or an expense of a payment; a negative amount is a correction."""

    payment_id: UUID
    amount: Amount
    currency: str
    category: str
    posted_at: date
    note: str | None


class Payment(Record):
    deal_id: UUID
    policy_id: UUID
    sequence: int = Field(description="1-based per policy, in creation order.")
    planned_date: date
    planned_amount: Amount
    currency: str
    actual_date: date | None
    status: PaymentStatus = Field(description="Derived from the totals and today, except `cancelled`.")
    cancelled_at: datetime | None
    comment: str | None
    recorded_by_id: UUID | None
    incomes_total: Amount
    expenses_total: Amount
    net_total: Amount
    incomes: list[PaymentLine] | None = Field(default=None, description="Only with `include=incomes`.")
    expenses: list[PaymentLine] | None = Field(default=None, description="Only with `include=expenses`.")

    def derived_state(self) -> str:
        return self.status.value


class IncomeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": "400.00", "category": "premium", "posted_at": "2026-01-15"}]},
    )

    amount: LineAmount
    currency: Currency | None = Field(default=None, description="Must be the payment's; the payment's when absent.")
    category: IncomeCategory
    posted_at: Day = Field(description="Not after today.")
    note: Note | None = Field(default=None, description="Required when the amount is negative.")


class ExpenseCreate(IncomeCreate):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": "100.00", "category": "agent_fee", "posted_at": "2026-01-15"}]},
    )

    category: ExpenseCategory  # type: ignore[assignment]


class IncomeUpdate(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": "450.00"}]})

    amount: LineAmount | None = None
    currency: Currency | None = None
    category: IncomeCategory | None = None
    posted_at: Day | None = None
    note: Note | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"amount", "currency", "category", "posted_at"})


class ExpenseUpdate(IncomeUpdate):
    category: ExpenseCategory | None = None  # type: ignore[assignment]


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    payment_id: UUID
    entity: Literal["payment", "income", "expense"]
    entity_id: UUID
    action: Literal["created", "updated", "deleted", "restored"]
    actor_id: UUID | None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class PaymentFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal_id: UUID
    policy_id: UUID
    include_incomes: bool = False
    include_expenses: bool = False
    page: PageRequest = PageRequest()
