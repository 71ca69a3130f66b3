"""The payment rules that need no storage: status, dates, corrections, currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from crm.domain.errors import (
    ActualDateBeforePlannedDate,
    ActualDateInFuture,
    CorrectionNeedsNote,
    CurrencyMismatch,
    FieldProblem,
    PostedAtInFuture,
)
from crm.domain.payments.schemas import PaymentStatus


def derive_status(
    *, cancelled: bool, planned_amount: Decimal, incomes_total: Decimal, planned_date: date, today: date
) -> PaymentStatus:
    """The one rule of a payment's status (storage applies it to every payment it reads, with today).

    Cancelled wins; then what was received decides; an unpaid instalment past its day is overdue.
    """
    if cancelled:
        return PaymentStatus.CANCELLED
    if incomes_total >= planned_amount:
        return PaymentStatus.PAID
    if incomes_total > 0:
        return PaymentStatus.PARTIALLY_PAID
    if planned_date < today:
        return PaymentStatus.OVERDUE
    return PaymentStatus.SCHEDULED


def check_actual_date(actual_date: date | None, planned_date: date, today: date) -> None:
    if actual_date is None:
        return
    if actual_date < planned_date:
        raise ActualDateBeforePlannedDate(
            f"The actual date {actual_date} is before the planned date {planned_date}.",
            errors=[FieldProblem("actual_date", f"must not be before planned_date ({planned_date})")],
        )
    if actual_date > today:
        raise ActualDateInFuture(
            f"The actual date {actual_date} is after today ({today}).",
            errors=[FieldProblem("actual_date", f"must not be after today ({today})")],
        )


def check_posted_at(posted_at: date, today: date) -> None:
    if posted_at > today:
        raise PostedAtInFuture(
            f"The posting date {posted_at} is after today ({today}).",
            errors=[FieldProblem("posted_at", f"must not be after today ({today})")],
        )


def check_correction(amount: Decimal, note: str | None) -> None:
    if amount < 0 and not (note and note.strip()):
        raise CorrectionNeedsNote(
            "A negative amount is a correction (refund, write-off) and needs a note saying why.",
            errors=[FieldProblem("note", "required when the amount is negative")],
        )


def check_currency(currency: str, payment_currency: str) -> None:
    if currency != payment_currency:
        raise CurrencyMismatch(
            f"The currency {currency} differs from the payment's {payment_currency}.",
            errors=[FieldProblem("currency", f"must be {payment_currency}, the payment's currency")],
        )
