"""Domain exceptions: each carries a stable ``code`` and the HTTP status it maps to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str
    row: int | None = None
    """The line of an uploaded file the problem is on (a CSV import's header is line 1); ``None`` elsewhere."""


class DomainError(Exception):
    """A business rule said no. ``code`` is the stable machine-readable reason."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    retry_after: int | None = None  # seconds, for an answer that is worth retrying (Retry-After)

    def __init__(self, detail: str, *, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Forbidden(DomainError):
    """The caller sees the record but may not do this to it (one they may not see is a ``NotFound``)."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class RuleViolation(DomainError):
    status = 422
    code = "rule_violation"
    title = "Unprocessable entity"


class Unavailable(DomainError):
    """A service this one depends on is away or overloaded: the request may succeed when retried."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"
    retry_after = 2


class InvalidToken(DomainError):
    """The request has no access token, or one that does not verify: who is calling is unknown."""

    status = 401
    code = "invalid_token"
    title = "Invalid or missing access token"

    def __init__(self, detail: str, *, token_given: bool = True) -> None:
        super().__init__(detail)
        self.token_given = token_given


class TokenKeysUnavailable(Unavailable):
    """The issuer's key set (JWKS) cannot be fetched, and no key known here verifies the token."""

    code = "token_keys_unavailable"
    title = "Token keys unavailable"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
    title = "Database unavailable"


class UnstorableValue(DomainError):
    """A value passed validation but the database refused it (a data exception): the request is at fault, so
    it is a 422, never a 500. Input types are meant to refuse such values first; this is the backstop."""

    status = 422
    code = "invalid_value"
    title = "Value cannot be stored"


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


# --- Policies and policy documents ----------------------------------------------------------------


class PolicyNotFound(NotFound):
    code = "policy_not_found"
    title = "Policy not found"


class PolicyNumberConflict(Conflict):
    code = "policy_number_conflict"
    title = "Policy number already in use"


class PolicyClientMismatch(RuleViolation):
    code = "policy_client_mismatch"
    title = "Policy client differs from the deal's client"


class PolicyHasCalculation(Conflict):
    code = "policy_has_calculation"
    title = "Policy is linked to a calculation"


class DealDeleted(Conflict):
    code = "deal_deleted"
    title = "Deal is deleted"


class DocumentAlreadyLinked(Conflict):
    code = "document_already_linked"
    title = "Document already linked"


class DocumentNotLinked(NotFound):
    code = "document_not_linked"
    title = "Document not linked"


class DocumentNotFound(NotFound):
    code = "document_not_found"
    title = "Document not found"


class DocumentsUnavailable(Unavailable):
    code = "documents_unavailable"
    title = "Documents service unavailable"


# --- Calculations (quotes) ------------------------------------------------------------------------


class CalculationNotFound(NotFound):
    code = "calculation_not_found"
    title = "Calculation not found"


class CalculationUpdateForbidden(DomainError):
    status = 400
    code = "calculation_update_forbidden"
    title = "Calculation is read-only"


class InvalidCalculationTransition(Conflict):
    code = "invalid_status_transition"
    title = "Invalid status transition"


class CalculationNotReady(DomainError):
    """A calculation lacks what ``ready`` needs; ``code`` names the first gap, ``errors`` list them all."""

    status = 400
    code = "calculation_not_ready"
    title = "Calculation is not ready"


class FilesRequiredForReady(CalculationNotReady):
    code = "files_required_for_ready"


class ProgramRequiredForReady(CalculationNotReady):
    code = "program_required_for_ready"


class PremiumRequiredForReady(CalculationNotReady):
    code = "premium_required_for_ready"


class ValidityPeriodRequiredForReady(CalculationNotReady):
    code = "validity_period_required_for_ready"


class PolicyAlreadyLinked(Conflict):
    code = "policy_already_linked"
    title = "Policy already linked"


# --- Tasks ----------------------------------------------------------------------------------------


class TaskNotFound(NotFound):
    code = "task_not_found"
    title = "Task not found"


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    title = "Payment not found"


class InvalidTaskStatusTransition(Conflict):
    code = "invalid_status_transition"
    title = "Invalid status transition"


class TaskClosed(Conflict):
    code = "task_closed"
    title = "Task is completed or cancelled"


class TaskReminderConflict(Conflict):
    code = "task_reminder_conflict"
    title = "Reminder already exists"


class CancelledReasonRequired(RuleViolation):
    code = "cancelled_reason_required"
    title = "Cancelling needs a reason"


class ScheduledForRequired(RuleViolation):
    code = "scheduled_for_required"
    title = "Scheduling needs a time"


class MemberExists(Conflict):
    code = "member_exists"
    title = "Already on the deal team"


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = "Not on the deal team"


class DealHasPolicies(Conflict):
    code = "deal_has_policies"
    title = "Deal has policies"


class IncomeNotFound(NotFound):
    code = "income_not_found"
    title = "Income not found"


class ExpenseNotFound(NotFound):
    code = "expense_not_found"
    title = "Expense not found"


class PaymentHasTransactions(Conflict):
    code = "payment_has_transactions"
    title = "Payment has incomes or expenses"


class CurrencyMismatch(DomainError):
    status = 400
    code = "currency_mismatch"
    title = "Currency differs from the payment's"


class ActualDateBeforePlannedDate(DomainError):
    status = 400
    code = "actual_date_before_planned_date"
    title = "Actual date before planned date"


class ActualDateInFuture(DomainError):
    status = 400
    code = "actual_date_in_future"
    title = "Actual date in the future"


class PostedAtInFuture(DomainError):
    status = 400
    code = "posted_at_in_future"
    title = "Posting date in the future"


class CorrectionNeedsNote(RuleViolation):
    code = "correction_needs_note"
    title = "A negative line needs a note"


class PolicyHasPayments(Conflict):
    code = "policy_has_payments"
    title = "Policy has payments"


class PolicyTermsRequired(RuleViolation):
    code = "policy_terms_required"
    title = "Policy terms required"


# --- Notifications --------------------------------------------------------------------------------


class TemplateNotFound(NotFound):
    code = "template_not_found"
    title = "Template not found"


class TemplateConflict(Conflict):
    code = "template_conflict"
    title = "Template already exists"


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "Notification not found"


class DuplicateNotification(Conflict):
    code = "duplicate_notification"
    title = "Notification already recorded"


class NotificationStreamUnavailable(Unavailable):
    code = "notification_stream_unavailable"
    title = "Notification stream unavailable"


# Lead intake -------------------------------------------------------------------------------------------------


class OperatorNotFound(NotFound):
    code = "operator_not_found"
    title = "Operator not found"


class SourceNotFound(NotFound):
    code = "source_not_found"
    title = "Source not found"


class OperatorUserConflict(Conflict):
    code = "operator_user_conflict"
    title = "The user is another live operator already"


class SourceNameConflict(Conflict):
    code = "source_name_conflict"
    title = "A live source has this name already"


class ListedTwice(RuleViolation):
    """A list body names one item twice where each must appear once (a source's weights per operator): the
    request's own shape, so it reads as the validation errors do."""

    code = "validation_error"
    title = "Invalid input"


class LeadNotFound(NotFound):
    code = "lead_not_found"
    title = "Lead not found"


class AppealNotFound(NotFound):
    code = "appeal_not_found"
    title = "Appeal not found"


class LeadExternalIdConflict(Conflict):
    code = "lead_external_id_conflict"
    title = "A live lead has this external id already"


class SourceInactive(Conflict):
    code = "source_inactive"
    title = "The source takes no appeals"


class AppealClosed(Conflict):
    code = "appeal_closed"
    title = "The appeal is closed"


class OperatorUnavailable(Conflict):
    """A named operator cannot take an appeal now: inactive, or at ``max_load``."""

    code = "operator_unavailable"
    title = "The operator cannot take the appeal"


# Pipelines and stages -----------------------------------------------------------------------------------------


class InvalidInput(RuleViolation):
    """Input that is well-formed but not acceptable here (a stage key the deal's pipeline lacks, a stage order that
    misses a stage): it reads as the validation errors do."""

    code = "validation_error"
    title = "Invalid input"


class PipelineNotFound(NotFound):
    code = "pipeline_not_found"
    title = "Pipeline not found"


class StageNotFound(NotFound):
    code = "stage_not_found"
    title = "Stage not found"


class PipelineNameConflict(Conflict):
    code = "pipeline_name_conflict"
    title = "A live pipeline has this name already"


class StageKeyConflict(Conflict):
    code = "stage_key_conflict"
    title = "A live stage of the pipeline has this key already"


class DefaultPipelineConflict(Conflict):
    code = "default_pipeline_conflict"
    title = "The default pipeline changed at the same time"


class PipelineIsDefault(Conflict):
    code = "pipeline_is_default"
    title = "The default pipeline cannot be deleted"


class PipelineHasDeals(Conflict):
    code = "pipeline_has_deals"
    title = "Pipeline has deals"


class StageHasDeals(Conflict):
    code = "stage_has_deals"
    title = "Stage has deals"


class LastStageOfKind(Conflict):
    code = "last_stage_of_kind"
    title = "A pipeline keeps an open, a won and a lost stage"


class PipelineDeleted(Conflict):
    code = "pipeline_deleted"
    title = "Pipeline is deleted"


class StageDeleted(Conflict):
    code = "stage_deleted"
    title = "Stage is deleted"


class StageRequired(RuleViolation):
    """The deal could go to more than one stage: the request must name it."""

    code = "stage_required"
    title = "Name the stage"


class LostReasonRequired(RuleViolation):
    code = "lost_reason_required"
    title = "A lost deal needs a reason"


class InvalidLostReason(RuleViolation):
    code = "invalid_lost_reason"
    title = "Lost reason not accepted"


# --- Exports and imports ----------------------------------------------------------------------------


class ExportTooLarge(RuleViolation):
    code = "export_too_large"
    title = "Too many rows to export"


class ExportsBusy(Unavailable):
    """This process already runs as many exports as it may at once (each holds a database connection)."""

    code = "exports_busy"
    title = "Too many exports running"
    retry_after = 5


class InvalidCsv(RuleViolation):
    """The upload cannot be read as the CSV the import takes: encoding, quoting, header, size."""

    code = "invalid_csv"
    title = "Unreadable CSV"


class InvalidRows(RuleViolation):
    """Rows of an import break the rules a single create follows; ``errors`` names each, by row and field."""

    code = "invalid_rows"
    title = "Rows are invalid"


class AutomationRuleNotFound(NotFound):
    code = "automation_rule_not_found"
    title = "Automation rule not found"
