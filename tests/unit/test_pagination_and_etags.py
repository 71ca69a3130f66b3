import base64
import json
import uuid
from datetime import UTC, date, datetime

import pytest

from crm.api.etags import NO_VERSION, etag_of, matches_none, parse_if_match
from crm.domain.errors import InvalidCursor
from crm.domain.pagination import decode_cursor, encode_cursor

KEY = (date(2026, 12, 1), datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC), uuid.uuid4())
TYPES = (date, datetime, uuid.UUID)


def test_cursor_round_trip_is_exact():
    assert decode_cursor("deals", encode_cursor("deals", KEY), TYPES) == KEY


def test_cursor_is_opaque_url_safe_text():
    assert set(encode_cursor("deals", KEY)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        _forge(["clients", []]),
        _forge(["deals", [1, 2, 3]]),
        _forge(["deals", [{"d": "2026-01-01"}, {"t": "2026-01-01T00:00:00"}, {"u": str(uuid.uuid4())}]]),
        _forge(["deals", [{"d": "2026-13-01"}, {"t": "2026-01-01T00:00:00+00:00"}, {"u": "x"}]]),
        _forge({"deals": 1}),
    ],
)
def test_bad_cursors_are_refused(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor("deals", cursor, TYPES)


def test_cursor_of_another_list_is_refused():
    with pytest.raises(InvalidCursor):
        decode_cursor("clients", encode_cursor("deals", KEY), TYPES)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("*", None), ('"3"', 3), ('W/"3"', 3), (' "3" , "4"', 3), ("3", NO_VERSION), ('"x"', NO_VERSION)],
)
def test_if_match_parsing(header, expected):
    assert parse_if_match(header) == expected


def test_if_none_match():
    assert matches_none('"2", "3"', '"3"')
    assert matches_none('W/"3"', '"3"')
    assert matches_none("*", '"1"')
    assert not matches_none('"2"', '"3"')
    assert not matches_none(None, '"3"')


def test_a_derived_state_is_part_of_the_etag_but_not_of_the_version():
    assert etag_of(3, "overdue") == '"3-overdue"'
    assert parse_if_match('"3-overdue"') == 3
    assert not matches_none('"3-scheduled"', etag_of(3, "overdue"))


@pytest.mark.parametrize(
    "values",
    [
        # Valid Python, but asyncpg converts to UTC first: year 0 and year 10000 cannot be sent.
        [{"d": "2026-01-01"}, {"t": "0001-01-01T00:00:00+14:00"}, {"u": str(uuid.uuid4())}],
        [{"d": "2026-01-01"}, {"t": "9999-12-31T23:59:59-14:00"}, {"u": str(uuid.uuid4())}],
        [{"d": "2026-01-01"}, {"t": 1}, {"u": 7}],
        [{"d": 20260101}, {"t": "2026-01-01T00:00:00+00:00"}, {"u": str(uuid.uuid4())}],
    ],
)
def test_a_well_typed_cursor_the_database_cannot_take_is_refused(values):
    with pytest.raises(InvalidCursor):
        decode_cursor("deals", _forge(["deals", values]), TYPES)


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30, True])
def test_a_cursor_integer_must_fit_a_bigint(number):
    with pytest.raises(InvalidCursor):
        decode_cursor("payment_history", _forge(["payment_history", [number]]), (int,))


def test_a_signed_cursor_verifies_only_under_its_own_key():
    from crm.api.cursors import CursorSigner

    signer = CursorSigner(b"k" * 32)
    cursor = encode_cursor("deals", KEY)
    signed = signer.sign(cursor)
    assert signer.verify(signed) == cursor
    assert set(signed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    for forged in (cursor, signed[:-1] + ("A" if signed[-1] != "A" else "B"), "." + signed.rpartition(".")[2], ""):
        with pytest.raises(InvalidCursor):
            signer.verify(forged)
    with pytest.raises(InvalidCursor):
        CursorSigner(b"x" * 32).verify(signed)
