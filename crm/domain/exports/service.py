"""Export use cases: the records a caller sees that a list's filters select, from one snapshot, within limits.

An export is refused before its first byte when more rows match than its format's limit allows (422
``export_too_large``): a file silently cut short looks complete, and nobody checks its last row. Each running
export holds a database connection, so a process runs at most ``ExportLimits.concurrent`` at once; one more is
a 503 ``exports_busy`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.errors import ExportsBusy, ExportTooLarge, FieldProblem
from crm.domain.exports.columns import CLIENT_COLUMNS, DEAL_COLUMNS, PAYMENT_COLUMNS, Column, plain_value
from crm.domain.exports.repository import ExportSource, RecordStream
from crm.domain.exports.schemas import ExportFormat, PaymentExportFilter
from crm.domain.payments.schemas import Payment

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExportLimits:
    csv_rows: int = 1_000_000
    """Rows a CSV export may hold: streamed, it costs the service no memory, only the time to send it."""
    xlsx_rows: int = 100_000
    """Rows an XLSX export may hold: it is built whole (on disk) before it is sent, and a spreadsheet slows down
    well before its own limit of 1,048,576 rows."""
    concurrent: int = 2
    """Exports one process runs at once."""

    def rows(self, file_format: ExportFormat) -> int:
        return self.csv_rows if file_format is ExportFormat.CSV else self.xlsx_rows


@dataclass(slots=True)
class Export(Generic[T]):
    """An open export: ``name`` names its file, ``rows`` says how many records it holds. ``close`` it once sent
    (or abandoned); until then it holds a connection and a snapshot."""

    name: str
    columns: tuple[Column, ...]
    file_format: ExportFormat
    rows: int
    stream: RecordStream[T]
    release: Callable[[], None]
    _closed: bool = field(default=False, init=False)

    def batches(self) -> AsyncIterator[Sequence[T]]:
        return self.stream.batches()

    def values(self, record: T) -> list[Any]:
        """The record's value in each column, in order (enums as their values, ``None`` for an empty cell)."""
        return [plain_value(getattr(record, column.name)) for column in self.columns]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.release()
        await self.stream.close()


class ExportService:
    def __init__(self, source: ExportSource, limits: ExportLimits) -> None:
        self._source = source
        self._limits = limits
        self._slots = asyncio.Semaphore(limits.concurrent)

    async def clients(self, query: ClientFilter, caller: Caller, file_format: ExportFormat) -> Export[Client]:
        access = Access.of(caller)
        return await self._open(
            "clients", CLIENT_COLUMNS, file_format, lambda limit: self._source.clients(query, access, limit)
        )

    async def deals(self, query: DealFilter, caller: Caller, file_format: ExportFormat) -> Export[Deal]:
        access = Access.of(caller)
        return await self._open(
            "deals", DEAL_COLUMNS, file_format, lambda limit: self._source.deals(query, access, limit)
        )

    async def payments(self, query: PaymentExportFilter, caller: Caller, file_format: ExportFormat) -> Export[Payment]:
        access = Access.of(caller)
        return await self._open(
            "payments", PAYMENT_COLUMNS, file_format, lambda limit: self._source.payments(query, access, limit)
        )

    async def _open(
        self,
        name: str,
        columns: tuple[Column, ...],
        file_format: ExportFormat,
        open_stream: Callable[[int], Awaitable[RecordStream[T]]],
    ) -> Export[T]:
        if self._slots.locked():
            raise ExportsBusy(f"{self._limits.concurrent} exports are running; try again in a few seconds.")
        await self._slots.acquire()
        try:
            limit = self._limits.rows(file_format)
            stream = await open_stream(limit)
        except BaseException:
            self._slots.release()
            raise
        export = Export(name, columns, file_format, stream.matching, stream, self._slots.release)
        if stream.matching > limit:
            await export.close()
            hint = " or export as CSV" if file_format is ExportFormat.XLSX else ""
            raise ExportTooLarge(
                f"More than {limit} {name} match the filters; {file_format.value.upper()} exports hold at most "
                f"{limit} rows. Narrow the filters{hint}.",
                errors=[FieldProblem("format", f"{file_format.value} exports hold at most {limit} rows")],
            )
        return export
