"""Reading a CSV of clients: the file's own rules (encoding, quoting, header, size), and each row made into the
``ClientCreate`` a single ``POST /clients`` would send.

Lines are counted as a text editor counts them, the header being line 1; a record whose quoted cell spans
lines is named by the line it starts on. Blank lines are skipped. A clients export imports as it is: its
read-only columns (``id``, ``version``, the audit columns) are recognised and ignored, and cells this service
marked against formula injection (``'=…``, ``'+7 …``) lose the mark again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm.domain.clients.schemas import ClientCreate
from crm.domain.errors import FieldProblem, InvalidCsv
from crm.domain.exports.columns import CLIENT_COLUMNS, unmark_spreadsheet_text

IMPORTED = ("name", "email", "phone", "status", "owner_id")
# Empty cells of these are absent values: no e-mail, no phone, no owner, the default status.
OPTIONAL = frozenset({"email", "phone", "status", "owner_id"})
READ_ONLY = frozenset(column.name for column in CLIENT_COLUMNS) - set(IMPORTED)
BODY = "body"


@dataclass(frozen=True, slots=True)
class CsvRecord:
    line: int
    cells: Mapping[str, str]
    """Imported column -> cell, as written (an empty cell is ``""``)."""


class ClientImportReport(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {"dry_run": False, "rows": 2, "created": 2, "ids": ["6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11"] * 2}
            ]
        },
    )

    dry_run: bool = Field(description="True: the rows were checked and nothing was written.")
    rows: int = Field(description="Data rows read (blank lines aside).")
    created: int = Field(description="Clients created; 0 in a dry run.")
    ids: list[UUID] = Field(description="The new clients' ids, in the order of the rows; empty in a dry run.")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")  # a BOM, as spreadsheets write, is not part of the header
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise InvalidCsv(
            f"The file is not UTF-8 text: line {line} holds a byte sequence UTF-8 does not have.",
            errors=[FieldProblem(BODY, "must be UTF-8 text", row=line)],
        ) from exc


def _header(cells: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    unknown = [name for name in names if name not in IMPORTED and name not in READ_ONLY]
    if unknown:
        raise InvalidCsv(
            f"Unknown columns: {', '.join(repr(n) for n in unknown)}; a client has {', '.join(IMPORTED)}.",
            errors=[FieldProblem(name or "(empty)", "is not a client field", row=1) for name in unknown],
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidCsv(
            f"Columns named more than once: {', '.join(repeated)}.",
            errors=[FieldProblem(name, "is named more than once", row=1) for name in repeated],
        )
    if "name" not in names:
        raise InvalidCsv(
            "The header has no `name` column; every client needs a name.",
            errors=[FieldProblem("name", "column missing", row=1)],
        )
    return names


def read_client_csv(body: bytes, *, max_rows: int) -> tuple[list[CsvRecord], list[FieldProblem]]:
    """The records of an RFC 4180 file whose header names client fields, and the rows that do not have as many
    cells as the header (left out of the records); ``InvalidCsv`` when the file as a whole cannot be read."""
    reader = csv.reader(io.StringIO(_text(body), newline=""), strict=True)
    records: list[CsvRecord] = []
    problems: list[FieldProblem] = []
    names: list[str] | None = None
    rows = 0
    next_line = 1
    try:
        for cells in reader:
            line, next_line = next_line, reader.line_num + 1
            if not cells:
                continue
            if names is None:
                names = _header(cells)
                continue
            rows += 1
            if rows > max_rows:
                raise InvalidCsv(
                    f"The file has more than {max_rows} rows; import it in parts.",
                    errors=[FieldProblem(BODY, f"at most {max_rows} rows", row=line)],
                )
            if len(cells) != len(names):
                counted = f"{len(cells)} cell" + ("" if len(cells) == 1 else "s")
                problems.append(FieldProblem("row", f"has {counted}; the header has {len(names)}", row=line))
                continue
            records.append(CsvRecord(line, {n: c for n, c in zip(names, cells, strict=True) if n in IMPORTED}))
    except csv.Error as exc:
        line = reader.line_num
        raise InvalidCsv(
            f"Line {line} is not valid CSV: {exc}.", errors=[FieldProblem(BODY, str(exc), row=line)]
        ) from exc
    if names is None:
        raise InvalidCsv("The file is empty; it needs a header and rows.", errors=[FieldProblem(BODY, "empty")])
    if rows == 0:
        raise InvalidCsv("The file has a header and no rows.", errors=[FieldProblem(BODY, "no rows", row=2)])
    return records, problems


def client_create(record: CsvRecord) -> ClientCreate | list[FieldProblem]:
    """The row as a create, or what is wrong with it (each problem naming its field and the row's line)."""
    values = {
        name: unmark_spreadsheet_text(cell)
        for name, cell in record.cells.items()
        if not (cell == "" and name in OPTIONAL)
    }
    try:
        return ClientCreate.model_validate(values)
    except ValidationError as exc:
        return [
            FieldProblem(
                ".".join(str(part) for part in error["loc"]) or BODY,
                str(error["msg"]).removeprefix("Value error, "),
                row=record.line,
            )
            for error in exc.errors()
        ]
