"""The policy rules that need no storage: its period, and the terms an issued policy must have."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from crm.domain.errors import FieldProblem, PolicyTermsRequired, RuleViolation
from crm.domain.policies.schemas import PolicyStatus

# A broker records a policy before it is issued: a draft (or a draft cancelled before issue) may still lack
# its premium and cover dates. Every other status is an issued policy and needs all three.
UNISSUED_STATUSES = frozenset({PolicyStatus.DRAFT, PolicyStatus.CANCELLED})


def check_period(effective_from: date | None, effective_to: date | None) -> None:
    if effective_from is not None and effective_to is not None and effective_to < effective_from:
        raise RuleViolation(
            "A policy cannot end before it starts.",
            errors=[FieldProblem("effective_to", f"must not be before effective_from ({effective_from})")],
        )


def check_terms(
    status: PolicyStatus, premium: Decimal | None, effective_from: date | None, effective_to: date | None
) -> None:
    if status in UNISSUED_STATUSES:
        return
    terms = {"premium": premium, "effective_from": effective_from, "effective_to": effective_to}
    missing = [name for name, value in terms.items() if value is None]
    if missing:
        raise PolicyTermsRequired(
            f"A {status} policy needs {', '.join(missing)}; only a draft may go without.",
            errors=[FieldProblem(name, f"required for a {status} policy") for name in missing],
        )


# A policy in force is asked to be renewed as its end nears (``pending_renewal``); one still in force or waiting
# for renewal after its last day has ended (``expired``). crm-worker moves them (crm.domain.occasions.renewals).
RENEWABLE_STATUSES = frozenset({PolicyStatus.ACTIVE})
UNRENEWED_STATUSES = frozenset({PolicyStatus.ACTIVE, PolicyStatus.PENDING_RENEWAL})


def renewal_window(today: date, notice_days: int) -> tuple[date, date]:
    """The last days (inclusive) of the policies to renew now: from today to ``notice_days`` ahead."""
    return today, today + timedelta(days=notice_days)


def renewal_is_due(status: PolicyStatus, effective_to: date | None, today: date, notice_days: int) -> bool:
    first, last = renewal_window(today, notice_days)
    return status in RENEWABLE_STATUSES and effective_to is not None and first <= effective_to <= last


def has_expired(status: PolicyStatus, effective_to: date | None, today: date) -> bool:
    """Its last day has passed and it was not renewed (a renewal is a new policy, or a later ``effective_to``)."""
    return status in UNRENEWED_STATUSES and effective_to is not None and effective_to < today
