"""Reading exported files back as a user's tools would: CSV with the csv module, XLSX with the standard zipfile
and XML parser (the parts of a workbook a spreadsheet reads first)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any
from xml.etree import ElementTree

import httpx

from tests.factories import assert_problem

SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def export(api: httpx.AsyncClient, what: str, **params: Any) -> httpx.Response:
    response = await api.get(f"/api/v1/{what}/export", params=params)
    assert response.status_code == 200, response.text
    return response


def csv_rows(response: httpx.Response) -> list[list[str]]:
    """Header first; the body must be UTF-8 with CRLF line ends."""
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    text = response.content.decode("utf-8")
    assert not text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), strict=True))


def csv_records(response: httpx.Response) -> list[dict[str, str]]:
    header, *rows = csv_rows(response)
    return [dict(zip(header, row, strict=True)) for row in rows]


def _column(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference)
    assert letters is not None
    number = 0
    for letter in letters.group():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


def xlsx_cells(content: bytes) -> list[list[ElementTree.Element | None]]:
    """The first sheet's cells (``<c>`` elements), row by row, a gap as ``None``; the file must be a whole
    workbook."""
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        assert book.testzip() is None
        names = set(book.namelist())
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/styles.xml", "xl/worksheets/sheet1.xml"} <= names
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{SHEET}row"):
        cells: list[ElementTree.Element | None] = []
        for cell in row.iter(f"{SHEET}c"):
            column = _column(cell.attrib["r"])
            cells.extend([None] * (column - len(cells)))
            cells.append(cell)
        rows.append(cells)
    return rows


def cell_text(cell: ElementTree.Element | None) -> str | None:
    """A cell's value as the file holds it: a string cell's text, else its ``<v>``."""
    if cell is None:
        return None
    if cell.attrib.get("t") == "inlineStr":
        return "".join(cell.itertext())
    value = cell.find(f"{SHEET}v")
    return None if value is None else value.text


def xlsx_records(response: httpx.Response) -> list[dict[str, str | None]]:
    assert response.headers["content-type"] == XLSX
    header, *rows = xlsx_cells(response.content)
    names = [cell_text(cell) for cell in header]
    return [
        {name: cell_text(cell) for name, cell in zip(names, cells + [None] * (len(names) - len(cells)), strict=True)}
        for cells in rows
    ]


async def export_refused(api: httpx.AsyncClient, what: str, status: int, code: str, **params: Any) -> dict[str, Any]:
    return assert_problem(await api.get(f"/api/v1/{what}/export", params=params), status, code)
