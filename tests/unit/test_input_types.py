"""The shared input types: what each accepts is exactly what its published JSON Schema says."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from crm.domain.types import Email, LongText, Name, Phone, SearchTerm

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


def test_the_whitespace_class_is_what_strip_removes():
    import sys

    from crm.domain.types import WHITESPACE

    spelled = re.compile(f"[{WHITESPACE}]")
    assert [c for c in range(sys.maxunicode + 1) if bool(spelled.match(chr(c))) != chr(c).isspace()] == []
