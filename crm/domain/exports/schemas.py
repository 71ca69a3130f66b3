"""The formats of an export, and the filters of the payments export (clients and deals take their lists')."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class PaymentExportFilter(BaseModel):
    """Live payments of live policies: of one deal, policy or client, planned within a range of days."""

    model_config = ConfigDict(frozen=True)

    deal_id: UUID | None = None
    policy_id: UUID | None = None
    client_id: UUID | None = None
    planned_from: date | None = None
    planned_to: date | None = None
