"""Constraint violations that reach the database, named and turned into domain errors."""

from __future__ import annotations

import asyncpg

from crm.domain.errors import ClientNotFound, DomainError, FieldProblem, IdempotencyKeyInUse, RuleViolation

# Foreign keys and unique constraints whose violation is a caller's mistake, not a bug.
_BY_CONSTRAINT: dict[str, tuple[type[DomainError], str, str]] = {
    "fk_deals_client_id_clients": (ClientNotFound, "client_id", "The client does not exist."),
    "pk_idempotency_keys": (
        IdempotencyKeyInUse,
        "Idempotency-Key",
        "Another request with this Idempotency-Key completed first; retry to get its response.",
    ),
}


def translate(exc: BaseException) -> DomainError | None:
    """The domain error a database error stands for, or ``None`` if it is a real fault."""
    if not isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return None
    constraint = getattr(exc, "constraint_name", None) or ""
    known = _BY_CONSTRAINT.get(constraint)
    if known is not None:
        error_type, field, detail = known
        return error_type(detail, errors=[FieldProblem(field, detail)])
    if isinstance(exc, asyncpg.CheckViolationError):
        return RuleViolation(
            f"The change breaks the rule {constraint!r}.", errors=[FieldProblem(constraint, "rule violated")]
        )
    return None
