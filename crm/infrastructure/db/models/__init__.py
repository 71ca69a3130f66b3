"""Table definitions: the schema Alembic migrates to, and that autogenerate compares against.

Requests read and write through asyncpg (the repositories beside this package), so the columns here and the
SQL there must agree; the integration tests exercise both. One module per feature; importing the package
registers every table on ``Base.metadata``.
"""

from crm.infrastructure.db.models.automation import AutomationFeedRow, AutomationRuleRow, AutomationRunRow
from crm.infrastructure.db.models.base import NAMING_CONVENTION, SCHEMA, Base, RecordColumns
from crm.infrastructure.db.models.calculations import CalculationRow
from crm.infrastructure.db.models.clients import ClientRow
from crm.infrastructure.db.models.deal_members import DealMemberRow
from crm.infrastructure.db.models.deals import DealRow, DealStageHistoryRow
from crm.infrastructure.db.models.inbound_events import InboundEventRow
from crm.infrastructure.db.models.journal import JournalEntryRow
from crm.infrastructure.db.models.leads import (
    AppealAssignmentRow,
    AppealRow,
    LeadRow,
    OperatorRow,
    SourceRow,
    SourceWeightRow,
)
from crm.infrastructure.db.models.notifications import (
    NotificationAttemptRow,
    NotificationDeliveryRow,
    NotificationRow,
    NotificationTemplateRow,
)
from crm.infrastructure.db.models.outbox import IdempotencyKeyRow, OutboxCursorRow, OutboxRow
from crm.infrastructure.db.models.payments import PaymentExpenseRow, PaymentHistoryRow, PaymentIncomeRow, PaymentRow
from crm.infrastructure.db.models.permissions import PermissionSyncJobRow
from crm.infrastructure.db.models.pipelines import PipelineRow, PipelineStageRow
from crm.infrastructure.db.models.policies import PolicyDocumentRow, PolicyRow
from crm.infrastructure.db.models.service_keys import ServiceKeyRow
from crm.infrastructure.db.models.tasks import TaskReminderRow, TaskRow, TaskStatusRow
from crm.infrastructure.db.models.users import UserContactRow

__all__ = [
    "NAMING_CONVENTION",
    "SCHEMA",
    "AppealAssignmentRow",
    "AppealRow",
    "AutomationFeedRow",
    "AutomationRuleRow",
    "AutomationRunRow",
    "Base",
    "CalculationRow",
    "ClientRow",
    "DealMemberRow",
    "DealRow",
    "DealStageHistoryRow",
    "IdempotencyKeyRow",
    "InboundEventRow",
    "JournalEntryRow",
    "LeadRow",
    "NotificationAttemptRow",
    "NotificationDeliveryRow",
    "NotificationRow",
    "NotificationTemplateRow",
    "OperatorRow",
    "OutboxCursorRow",
    "OutboxRow",
    "PaymentExpenseRow",
    "PaymentHistoryRow",
    "PaymentIncomeRow",
    "PaymentRow",
    "PermissionSyncJobRow",
    "PipelineRow",
    "PipelineStageRow",
    "PolicyDocumentRow",
    "PolicyRow",
    "RecordColumns",
    "ServiceKeyRow",
    "SourceRow",
    "SourceWeightRow",
    "TaskReminderRow",
    "TaskRow",
    "TaskStatusRow",
    "UserContactRow",
]
