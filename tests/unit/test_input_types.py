"""The shared input types: what each accepts is exactly what its published JSON Schema says."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from crm.domain.types import Day, Email, Instant, LongText, Name, Phone, SearchTerm

TEXT_TYPES = {"Name": Name, "LongText": LongText, "Email": Email, "Phone": Phone, "SearchTerm": SearchTerm}


def _accepts(adapter: TypeAdapter, value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _schema_allows(schema: dict, value: str) -> bool:
    """The published JSON Schema, read by a Rust (ECMA-style) validator, as schemathesis reads it, and by
    Python's ``re``: both readings must agree."""
    rust = jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid(value)
    python = re.search(schema["pattern"], value) is not None and len(value) >= schema.get("minLength", 0)
    python = python and len(value) <= schema.get("maxLength", len(value))
    assert rust == python, (schema, value)
    return rust


# Characters that matter at the edges: whitespace str.strip() removes, NUL, '@', '.', digits, letters.
_EDGY = st.text(alphabet=st.sampled_from(" \t\n\x1c\x85\u00a0\u3000\ufeff\x00@.+-()0123456789abcAé٣"), max_size=40)


@pytest.mark.parametrize("name", sorted(TEXT_TYPES))
@settings(max_examples=300, deadline=None)
@given(value=_EDGY | st.text(max_size=300) | st.from_regex(r"\A\s*[a-z.]+@[a-z]+\.[a-z]{2,}\s*\Z"))
@example(value=" " * 300 + "a")
@example(value="a\x00")
def test_text_accepts_exactly_what_its_schema_allows(name, value):
    adapter = TypeAdapter(TEXT_TYPES[name])
    assert _accepts(adapter, value) == _schema_allows(adapter.json_schema(), value)


@pytest.mark.parametrize("name", sorted(TEXT_TYPES))
def test_text_refuses_unpaired_surrogates_and_nul(name):
    adapter = TypeAdapter(TEXT_TYPES[name])
    for bad in ("office@acme.example\ud800", "+7 495\udfff 1", "a\x00b"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


def test_stripped_text_is_stored_without_its_surrounding_whitespace():
    assert TypeAdapter(Name).validate_python("  Acme \n") == "Acme"
    assert TypeAdapter(LongText).validate_python("  as typed \n") == "  as typed \n"


@settings(max_examples=300, deadline=None)
@given(day=st.dates())
def test_a_day_is_accepted_as_written_when_its_neighbours_exist(day):
    adapter = TypeAdapter(Day)
    inside = date(1, 1, 1) < day < date(9999, 12, 31)
    assert _accepts(adapter, day.isoformat()) == inside == _schema_allows(adapter.json_schema(), day.isoformat())


@settings(max_examples=500, deadline=None)
@given(
    moment=st.datetimes(),
    offset=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    fraction=st.sampled_from(["", ".5", ".123456", ".1234567"]),
)
def test_an_instant_is_accepted_exactly_when_its_schema_allows_it_and_it_fits_in_utc(moment, offset, fraction):
    zone = timezone(timedelta(minutes=offset))
    text = moment.replace(microsecond=0, tzinfo=zone).isoformat()
    text = text[:19] + fraction + text[19:]
    adapter = TypeAdapter(Instant)
    allowed = _schema_allows(adapter.json_schema(), text)
    assert _accepts(adapter, text) == allowed
    if allowed:
        assert adapter.validate_python(text).astimezone(UTC).year in range(1, 10000)


@pytest.mark.parametrize("value", [0, 1767225600, 1.5, True, "1767225600", "2026-12-01", "2026-12-01T09:00:00"])
def test_an_instant_is_never_a_number_nor_naive(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Instant).validate_python(value)


@pytest.mark.parametrize("value", [0, 20261201, 1.5, True, "20261201", "2026-12-01T00:00:00", "2026-12-01 "])
def test_a_day_is_never_a_number_nor_a_date_time(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Day).validate_python(value)


def test_python_callers_may_pass_dates_and_aware_datetimes():
    assert TypeAdapter(Day).validate_python(date(2026, 12, 1)) == date(2026, 12, 1)
    moment = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert TypeAdapter(Instant).validate_python(moment) == moment
    with pytest.raises(ValidationError):
        TypeAdapter(Instant).validate_python(datetime(2026, 12, 1, 9))


def test_the_whitespace_class_is_what_strip_removes():
    import sys

    from crm.domain.types import WHITESPACE

    spelled = re.compile(f"[{WHITESPACE}]")
    assert [c for c in range(sys.maxunicode + 1) if bool(spelled.match(chr(c))) != chr(c).isspace()] == []
