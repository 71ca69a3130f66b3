"""Domain exceptions: each carries a stable ``code`` and the HTTP status it maps to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


class DomainError(Exception):
    """A business rule said no. ``code`` is the stable machine-readable reason."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class RuleViolation(DomainError):
    status = 422
    code = "rule_violation"
    title = "Unprocessable entity"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"

    def __init__(self, detail: str, *, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version


class ClientNotFound(NotFound):
    code = "client_not_found"
    title = "Client not found"


class DealNotFound(NotFound):
    code = "deal_not_found"
    title = "Deal not found"


class ClientHasOpenDeals(Conflict):
    code = "client_has_open_deals"
    title = "Client has open deals"


class InvalidStageTransition(Conflict):
    code = "invalid_stage_transition"
    title = "Invalid stage transition"


class InvalidCursor(DomainError):
    status = 400
    code = "invalid_cursor"
    title = "Invalid cursor"

    def __init__(self) -> None:
        super().__init__(
            "The cursor is not one this service issued for this list.",
            errors=[FieldProblem("cursor", "malformed or foreign cursor")],
        )


class ClientDeleted(Conflict):
    code = "client_deleted"
    title = "Client is deleted"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    title = "Idempotency key in use"
