"""Constraint violations and data exceptions that reach the database, turned into domain errors."""

from __future__ import annotations

import asyncpg
from asyncpg.exceptions._base import DataError as ArgumentDataError

from crm.domain.errors import (
    ClientNotFound,
    DatabaseUnavailable,
    DealNotFound,
    DefaultPipelineConflict,
    DocumentAlreadyLinked,
    DomainError,
    FieldProblem,
    IdempotencyKeyInUse,
    LeadExternalIdConflict,
    OperatorUserConflict,
    PaymentNotFound,
    PipelineNameConflict,
    PipelineNotFound,
    PolicyAlreadyLinked,
    PolicyNotFound,
    PolicyNumberConflict,
    RuleViolation,
    SourceNameConflict,
    StageKeyConflict,
    TaskReminderConflict,
    TemplateConflict,
    UnstorableValue,
)

# Foreign keys and unique constraints whose violation is a caller's mistake, not a bug.
_BY_CONSTRAINT: dict[str, tuple[type[DomainError], str, str]] = {
    "fk_deals_client_id_clients": (ClientNotFound, "client_id", "The client does not exist."),
    "uq_policies_policy_number": (PolicyNumberConflict, "policy_number", "The policy number is already in use."),
    "fk_policies_client_id_clients": (ClientNotFound, "client_id", "The client does not exist."),
    "fk_policies_deal_id_deals": (DealNotFound, "deal_id", "The deal does not exist."),
    "uq_policy_documents_policy_id_document_id": (
        DocumentAlreadyLinked,
        "document_id",
        "The document is already linked to this policy.",
    ),
    "fk_policy_documents_policy_id_policies": (PolicyNotFound, "policy_id", "The policy does not exist."),
    "fk_calculations_deal_id_deals": (DealNotFound, "deal_id", "The deal does not exist."),
    "fk_calculations_linked_policy_id_policies": (PolicyNotFound, "policy_id", "The policy does not exist."),
    # Two confirms racing for one policy: the later one sees the first link only at commit.
    "uq_calculations_linked_policy_id": (
        PolicyAlreadyLinked,
        "policy_id",
        "Another calculation was linked to this policy at the same time; retry to take it over.",
    ),
    "fk_deal_journal_deal_id_deals": (DealNotFound, "deal_id", "The deal does not exist."),
    "fk_tasks_deal_id_deals": (DealNotFound, "deal_id", "The deal does not exist."),
    "fk_tasks_client_id_clients": (ClientNotFound, "client_id", "The client does not exist."),
    "fk_tasks_policy_id_policies": (PolicyNotFound, "policy_id", "The policy does not exist."),
    "fk_tasks_payment_id_payments": (PaymentNotFound, "payment_id", "The payment does not exist."),
    # Two requests adding the same reminder at once: the later one meets the first at the index.
    "uq_task_reminders_task_id_remind_at_channel": (
        TaskReminderConflict,
        "remind_at",
        "The task already has a reminder at this time on this channel.",
    ),
    # A live template with this (key, channel, locale) exists, or was written at the same time.
    "uq_notification_templates_key_channel_locale": (
        TemplateConflict,
        "key",
        "A live template with this key, channel and locale exists already.",
    ),
    # A live operator for this user, or a live source with this name, exists or was written at the same time
    # (a restore over a successor included).
    "uq_operators_user_id": (OperatorUserConflict, "user_id", "The user is another live operator already."),
    "uq_sources_name": (SourceNameConflict, "name", "A live source has this name already."),
    "uq_leads_external_id": (LeadExternalIdConflict, "external_id", "A live lead has this external id already."),
    # A live pipeline with this name, another default, or a live stage with this key, written at the same time (a
    # restore over a successor included).
    "uq_pipelines_name": (PipelineNameConflict, "name", "A live pipeline has this name already."),
    "uq_pipelines_is_default": (
        DefaultPipelineConflict,
        "is_default",
        "Another pipeline became the default at the same time; retry.",
    ),
    "uq_pipeline_stages_pipeline_id_key": (
        StageKeyConflict,
        "key",
        "A live stage of the pipeline has this key already.",
    ),
    "fk_deals_pipeline_id_pipelines": (PipelineNotFound, "pipeline_id", "The pipeline does not exist."),
    "pk_idempotency_keys": (
        IdempotencyKeyInUse,
        "Idempotency-Key",
        "Another request with this Idempotency-Key completed first; retry to get its response.",
    ),
}


# The database is away, or it cannot serve this request now: the request may succeed when retried. Connection
# errors (SQLSTATE class 08), an admin shutdown or a statement timeout (class 57), too many connections (53),
# a deadlock or serialization failure (40), the socket itself, a pool that gave no connection in time, and
# asyncpg's own complaints about a connection that died under it.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


def connection_lost(exc: BaseException) -> bool:
    """True if ``exc`` says the connection (or the database) went away, not that the request was wrong."""
    if isinstance(exc, CONNECTION_LOST):
        return True
    # "cannot call Connection.is_closed(): connection has been released back to the pool", "connection is
    # closed", "cannot perform operation: another operation is in progress" on a connection that broke.
    return isinstance(exc, asyncpg.InterfaceError) and (
        "connection" in str(exc) or "another operation is in progress" in str(exc)
    )


def translate(exc: BaseException) -> DomainError | None:
    """The domain error a database error stands for, or ``None`` if it is a real fault."""
    if connection_lost(exc):
        return DatabaseUnavailable("The database cannot be reached right now; retry in a moment.")
    if isinstance(exc, asyncpg.NumericValueOutOfRangeError):
        # Amounts are checked on input; only a sum (a payment's totals) can outgrow NUMERIC(14, 2).
        return RuleViolation(
            "The change would make a total exceed 12 integer digits.",
            errors=[FieldProblem("amount", "the resulting total is out of range")],
        )
    if isinstance(exc, asyncpg.DataError | ArgumentDataError):
        # A value PostgreSQL refused (SQLSTATE class 22: invalid text representation, datetime overflow,
        # untranslatable character, ...) or asyncpg could not encode (a year outside 1-9999 in UTC, an
        # integer past the column's range, text with no UTF-8 form): the request's data, never a crash.
        column = getattr(exc, "column_name", None) or "body"
        return UnstorableValue(
            "A value in the request cannot be stored or compared by the database.",
            errors=[FieldProblem(column, "out of range or not representable")],
        )
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
