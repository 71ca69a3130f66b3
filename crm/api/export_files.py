"""An open export written as the file it is sent as: CSV streamed as its rows arrive, XLSX built on disk first.

CSV (RFC 4180): UTF-8 without a byte order mark, CRLF line ends, a header row of the columns' names, a cell
quoted only when it must be. Every cell is written by ``crm.domain.exports.columns.csv_cell``: free text that a
spreadsheet would take for a formula gets a leading ``'`` (OWASP's rule).

XLSX: one sheet, typed cells (text as strings, which a spreadsheet never evaluates, so nothing is marked; money
as numbers with two decimals; days and instants as dates, instants in UTC). A workbook is a zip whose parts are
only complete at the end, so it is written whole (xlsxwriter's ``constant_memory`` mode keeps one row in memory)
into a temporary folder, and sent from there: the answer can still be a problem until the file is complete. Money
goes into the file as the exact decimal text (``<v>1234.50</v>``): a spreadsheet reads it into a double, which
holds every NUMERIC(14,2) value exactly at the 15 significant digits it shows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from crm.domain.exports.columns import CellKind, CellWriter, Column, csv_writer
from crm.domain.exports.schemas import ExportFormat
from crm.domain.exports.service import Export

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {ExportFormat.CSV: f"{CSV_MEDIA_TYPE}; charset=utf-8; header=present", ExportFormat.XLSX: XLSX_MEDIA_TYPE}
CHUNK_BYTES = 64 * 1024

# How each kind of cell looks in a sheet, and how wide its column is (in characters).
NUMBER_FORMATS = {CellKind.MONEY: "0.00", CellKind.DAY: "yyyy-mm-dd", CellKind.INSTANT: "yyyy-mm-dd hh:mm:ss"}
WIDTHS = {CellKind.ID: 38, CellKind.TEXT: 30, CellKind.INSTANT: 20, CellKind.DAY: 12, CellKind.MONEY: 15}


def file_name(name: str, file_format: ExportFormat, now: datetime) -> str:
    """``deals-20261201T090000Z.csv``: the name of the records and when they were read, in UTC."""
    return f"{name}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.{file_format.value}"


async def export_response(export: Export[Any], now: datetime) -> Response:
    """The export as an attachment; it is closed once sent (or, for XLSX, once written)."""
    headers = {"Content-Disposition": f'attachment; filename="{file_name(export.name, export.file_format, now)}"'}
    media_type = MEDIA_TYPES[export.file_format]
    try:
        if export.file_format is ExportFormat.CSV:
            # Closed by the body when it ends, and after the answer in any case: a client gone before the first
            # row leaves a body that never started, whose own cleanup never runs.
            return StreamingResponse(
                _csv_body(export), media_type=media_type, headers=headers, background=BackgroundTask(export.close)
            )
        sheet = await _xlsx_file(export)
    except BaseException:
        await export.close()
        raise
    headers["Content-Length"] = str(os.fstat(sheet.fileno()).st_size)
    return StreamingResponse(_file_body(sheet), media_type=media_type, headers=headers)


def _csv_lines(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _csv_batch(export: Export[Any], writers: Sequence[CellWriter], batch: Sequence[Any]) -> bytes:
    return _csv_lines(
        [
            ["" if value is None else write(value) for value, write in zip(export.values(record), writers, strict=True)]
            for record in batch
        ]
    )


async def _csv_body(export: Export[Any]) -> AsyncIterator[bytes]:
    writers = [csv_writer(column.kind) for column in export.columns]
    try:
        yield _csv_lines([[column.name for column in export.columns]])
        async for batch in export.batches():
            # In a worker thread: formatting a batch takes tens of milliseconds the event loop keeps for others.
            yield await asyncio.to_thread(_csv_batch, export, writers, batch)
    finally:
        await export.close()


class SheetWriter:
    """One worksheet written row by row (xlsxwriter's ``constant_memory``: each row leaves memory once the next
    begins); blocking, so the caller runs it in a thread."""

    def __init__(self, path: Path, name: str, columns: tuple[Column, ...]) -> None:
        # Cells are written by kind below, never guessed from a string (no formulas, numbers or links).
        options = {
            "constant_memory": True,
            "tmpdir": str(path.parent),
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        }
        self._book = xlsxwriter.Workbook(str(path), options)
        self._sheet = self._book.add_worksheet(name)
        self._columns = columns
        self._formats = {kind: self._book.add_format({"num_format": f}) for kind, f in NUMBER_FORMATS.items()}
        for number, column in enumerate(columns):
            self._sheet.set_column(number, number, WIDTHS.get(column.kind, 12))
        self._sheet.freeze_panes(1, 0)
        bold = self._book.add_format({"bold": True})
        for number, column in enumerate(columns):
            self._sheet.write_string(0, number, column.name, bold)
        self._row = 1

    def write_records(self, export: Export[Any], records: Sequence[Any]) -> None:
        for record in records:
            for number, (value, column) in enumerate(zip(export.values(record), self._columns, strict=True)):
                self._write(number, value, column.kind)
            self._row += 1

    def _write(self, number: int, value: Any, kind: CellKind) -> None:
        if value is None:
            return
        row, sheet = self._row, self._sheet
        if kind is CellKind.MONEY:
            # The Decimal itself: xlsxwriter writes it with format G, which for a Decimal is its exact text.
            sheet.write_number(row, number, value, self._formats[kind])
        elif kind is CellKind.INTEGER:
            sheet.write_number(row, number, value)
        elif kind is CellKind.DAY:
            sheet.write_datetime(row, number, value, self._formats[kind])
        elif kind is CellKind.INSTANT:
            sheet.write_datetime(row, number, value.astimezone(UTC).replace(tzinfo=None), self._formats[kind])
        else:
            sheet.write_string(row, number, str(value))

    def close(self) -> None:
        self._book.close()


def _open_unlinked(path: Path) -> IO[bytes]:
    """The file, open for reading, with its folder already removed: nothing is left behind on disk however the
    answer ends (the open handle keeps the data until it is closed)."""
    handle = path.open("rb")
    shutil.rmtree(path.parent, ignore_errors=True)
    return handle


async def _xlsx_file(export: Export[Any]) -> IO[bytes]:
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="crm-export-"))
    path = folder / f"{export.name}.xlsx"
    try:
        writer = await asyncio.to_thread(SheetWriter, path, export.name, export.columns)
        async for batch in export.batches():
            await asyncio.to_thread(writer.write_records, export, batch)
        await export.close()
        await asyncio.to_thread(writer.close)
        return await asyncio.to_thread(_open_unlinked, path)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, folder, True))
        raise


async def _file_body(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()
