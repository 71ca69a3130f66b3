"""What an export holds: its columns, in order, each named as the API names the field, and how a cell is written.

A cell is written from the record as the API serves it (a payment with its derived status, a deal with its
stage), so a file and a ``GET`` never disagree. Text is the one kind of cell a person typed; it is the only kind
escaped against formula injection (``spreadsheet_safe``): everything else is written by this service in a fixed
form (ids, exact decimals, ISO 8601 dates and instants) that no spreadsheet evaluates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

CENT = Decimal("0.01")

# OWASP's "CSV injection" rule: a spreadsheet evaluates a cell starting with one of these as a formula (tab and
# carriage return are stripped first by some). A leading apostrophe makes it text, and is not shown.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


class CellKind(StrEnum):
    TEXT = "text"  # typed by a person: escaped in CSV, a string cell in XLSX
    CODE = "code"  # a value of a fixed list (status, stage, currency): written as is
    ID = "id"  # a UUID
    MONEY = "money"  # NUMERIC(14,2): an exact decimal with two places
    DAY = "day"  # a business date, YYYY-MM-DD
    INSTANT = "instant"  # an instant, ISO 8601 in UTC
    INTEGER = "integer"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: CellKind


def _columns(spec: str) -> tuple[Column, ...]:
    """Columns from ``"name:kind name:kind …"``."""
    return tuple(Column(name, CellKind(kind)) for name, kind in (part.split(":") for part in spec.split()))


AUDIT = "version:integer created_at:instant updated_at:instant created_by_id:id updated_by_id:id"

CLIENT_COLUMNS = _columns(f"id:id name:text email:text phone:text status:code owner_id:id {AUDIT}")
DEAL_COLUMNS = _columns(
    "id:id client_id:id title:text description:text status:code pipeline_id:id stage_id:id stage:text "
    "stage_entered_at:instant lost_reason:text next_review_at:day owner_id:id "
    f"closed_at:instant {AUDIT}"
)
PAYMENT_COLUMNS = _columns(
    "id:id deal_id:id policy_id:id sequence:integer planned_date:day planned_amount:money currency:code "
    "actual_date:day status:code cancelled_at:instant incomes_total:money expenses_total:money net_total:money "
    f"comment:text recorded_by_id:id {AUDIT}"
)


def spreadsheet_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it: one starting like a formula gets a leading ``'``."""
    return TEXT_MARK + text if text.startswith(FORMULA_TRIGGERS) else text


def unmark_spreadsheet_text(text: str) -> str:
    """The inverse of ``spreadsheet_safe``, for a file this service exported coming back in an import."""
    if text.startswith(TEXT_MARK) and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def plain_value(value: Any) -> Any:
    """An enum's value; anything else as it is."""
    return value.value if isinstance(value, Enum) else value


def _money(value: Decimal) -> str:
    return f"{value.quantize(CENT):f}"


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _day(value: date) -> str:
    return value.isoformat()


CellWriter = Callable[[Any], str]
_WRITERS: dict[CellKind, CellWriter] = {
    CellKind.TEXT: lambda value: spreadsheet_safe(str(value)),
    CellKind.MONEY: _money,
    CellKind.INSTANT: _instant,
    CellKind.DAY: _day,
}


def csv_writer(kind: CellKind) -> CellWriter:
    """How a CSV cell of ``kind`` is written from a value that is not ``None`` (and not an enum): money as an exact
    decimal (``"1000.00"``), days ``YYYY-MM-DD``, instants ISO 8601 in UTC, ids as their text, text escaped
    against formula injection."""
    return _WRITERS.get(kind, str)


def csv_cell(value: Any, kind: CellKind) -> str:
    """One CSV cell; empty for ``None``."""
    value = plain_value(value)
    return "" if value is None else csv_writer(kind)(value)
