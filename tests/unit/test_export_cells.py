"""How exported cells are written, and how an imported CSV is read: pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.domain.clients.imports import client_create, read_client_csv
from crm.domain.errors import InvalidCsv
from crm.domain.exports.columns import CellKind, csv_cell, spreadsheet_safe, unmark_spreadsheet_text


@pytest.mark.parametrize("text", ["=1+2", "+7 900", "-x", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_text_starting_like_a_formula_is_marked_as_text(text):
    assert csv_cell(text, CellKind.TEXT) == "'" + text


@pytest.mark.parametrize("text", ["Acme", "'quoted'", " =spaced", "", "1+1", "Ёлки-палки"])
def test_other_text_is_written_as_it_is(text):
    assert csv_cell(text, CellKind.TEXT) == text


@given(st.text())
def test_marking_is_undone_exactly_on_import(text):
    assert unmark_spreadsheet_text(spreadsheet_safe(text)) == text


def test_values_the_service_writes_are_never_marked():
    assert csv_cell(Decimal("-10.50"), CellKind.MONEY) == "-10.50"
    assert csv_cell(Decimal("5"), CellKind.MONEY) == "5.00"
    assert csv_cell(Decimal("999999999999.99"), CellKind.MONEY) == "999999999999.99"
    assert csv_cell(date(2027, 1, 15), CellKind.DAY) == "2027-01-15"
    moscow = timezone(timedelta(hours=3))
    assert csv_cell(datetime(2026, 12, 1, 9, 0, tzinfo=moscow), CellKind.INSTANT) == "2026-12-01T06:00:00+00:00"
    uid = UUID("6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11")
    assert csv_cell(uid, CellKind.ID) == str(uid)
    assert csv_cell(None, CellKind.TEXT) == "" and csv_cell(None, CellKind.INSTANT) == ""
    assert csv_cell(datetime(2026, 12, 1, tzinfo=UTC), CellKind.INSTANT).endswith("+00:00")


def test_records_are_named_by_the_line_they_start_on():
    body = b'name,phone\r\n"Two\r\nlines",\r\n\r\nThird,\r\n'
    records, problems = read_client_csv(body, max_rows=10)
    assert [(r.line, r.cells["name"]) for r in records] == [(2, "Two\r\nlines"), (5, "Third")]
    assert problems == []


def test_the_read_only_columns_of_an_export_are_read_and_dropped():
    body = b"id,name,version,created_at\r\nx,Acme,3,2026-01-01\r\n"
    (record,), _ = read_client_csv(body, max_rows=10)
    assert dict(record.cells) == {"name": "Acme"}


def test_an_empty_optional_cell_is_an_absent_value_and_a_mark_is_undone():
    body = b"name,email,phone,status,owner_id\r\n'=Acme,,'+7 900 000-00-00,,\r\n"
    (record,), _ = read_client_csv(body, max_rows=10)
    data = client_create(record)
    assert not isinstance(data, list)
    assert (data.name, data.email, data.phone, data.status.value, data.owner_id) == (
        "=Acme",
        None,
        "+7 900 000-00-00",
        "active",
        None,
    )


@pytest.mark.parametrize(
    ("body", "row"),
    [(b"", None), (b"name\r\n", 2), (b"name\r\n\xff\r\n", 2), (b'name\r\n"x', 2), (b"name\r\na\r\nb\r\nc\r\n", 4)],
)
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(body, row):
    with pytest.raises(InvalidCsv) as refused:
        read_client_csv(body, max_rows=2)
    assert refused.value.errors[0].row == row
