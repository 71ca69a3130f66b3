"""Reading W3C traceparent headers: well-formed ones are carried, anything else is ignored."""

from __future__ import annotations

import pytest

from crm.domain.tracing import parse_traceparent, trace_id_of

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_well_formed_header_is_carried_as_received():
    assert parse_traceparent(VALID) == VALID
    assert parse_traceparent(VALID.replace("-01", "-00")) == VALID.replace("-01", "-00")
    assert trace_id_of(VALID) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_surrounding_blanks_are_dropped():
    assert parse_traceparent(f" {VALID}\t") == VALID


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        VALID.upper(),  # hex is lowercase
        VALID[:-1],  # a digit short
        VALID + "-extra",  # version 00 has exactly four fields
        "ff" + VALID[2:],  # version ff is forbidden
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  # a later version's fields follow a dash
        VALID + "-" + "a" * 600,  # unbounded
    ],
)
def test_a_malformed_header_is_ignored(header):
    assert parse_traceparent(header) is None


def test_a_later_version_is_read_by_its_first_four_fields_and_carried_as_version_00():
    later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next"

    assert parse_traceparent(later) == VALID
    assert parse_traceparent(later[: len(VALID)]) == VALID
