"""Value types shared by the modules' schemas: free text, instants and days, page sizes.

Each type is checked once, here, so that nothing a client sends can fail later inside the database, and
each publishes a JSON Schema that says exactly what it accepts (the OpenAPI document is generated from it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


def unstorable_text(value: str) -> str | None:
    """Why PostgreSQL ``text`` (UTF-8) cannot hold ``value``, or ``None`` when it can.

    NUL is refused by PostgreSQL itself; an unpaired UTF-16 surrogate (JSON allows ``"\\ud800"``) has no
    UTF-8 form at all. Both used to surface as a database error, answered with a 500.
    """
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)"
    return None


# What ``str.strip()`` removes (``str.isspace``), spelled out: ``\s`` means something else in each regex dialect
# (ECMA-262 leaves out U+001C-U+001F and U+0085 and adds U+FEFF), and a pattern must mean the same to every client.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True, slots=True)
class Text:
    """A free-text field, used as ``Annotated[str, Text(...)]``.

    Lengths and ``pattern`` apply to the text as sent; then, with ``strip``, surrounding whitespace is dropped.
    ``blank=False`` asks for at least one character that is not whitespace, so the stripped text is never empty.
    NUL and unpaired surrogates are always refused. The JSON Schema carries the same rules as ``maxLength``,
    ``minLength`` and a ``pattern``, which reads the same in Python, ECMA-262 and Rust regular expressions.
    """

    max_length: int
    min_length: int = 0
    strip: bool = True
    blank: bool = True
    pattern: str | None = None
    pattern_message: str = "has an invalid format"

    @property
    def json_pattern(self) -> str:
        if self.pattern is not None:
            return self.pattern
        # Linear-time forms (no nested repetition), for our own check and for any client's validator.
        return r"^[^\x00]*$" if self.blank else rf"^[{WHITESPACE}]*[^{WHITESPACE}\x00][^\x00]*$"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.clean, core_schema.str_schema())

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.min_length:
            json_schema["minLength"] = self.min_length
        json_schema["pattern"] = self.json_pattern
        return json_schema

    def clean(self, value: str) -> str:
        problem = unstorable_text(value)
        if problem is not None:
            raise PydanticCustomError("text_unstorable", problem)
        if len(value) > self.max_length:
            raise PydanticCustomError("text_too_long", f"must be at most {self.max_length} characters")
        if len(value) < self.min_length:
            raise PydanticCustomError("text_too_short", f"must be at least {self.min_length} characters")
        if self.pattern is not None:
            if _compiled(self.pattern).fullmatch(value) is None:
                raise PydanticCustomError("text_pattern", self.pattern_message)
        elif not self.blank and not value.strip():
            raise PydanticCustomError("text_blank", "must not be blank")
        return value.strip() if self.strip else value


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


Name = Annotated[str, Text(max_length=255, blank=False)]
Title = Name
LongText = Annotated[str, Text(max_length=10_000, strip=False)]
Email = Annotated[
    str,
    Text(
        max_length=254,
        pattern=rf"^[{WHITESPACE}]*[^@{WHITESPACE}\x00]+@[^@{WHITESPACE}\x00]+\.[^@{WHITESPACE}\x00]+[{WHITESPACE}]*$",
        pattern_message="must be an email address such as office@acme.example",
    ),
]
Phone = Annotated[
    str,
    Text(
        max_length=32,
        min_length=3,
        pattern=rf"^[{WHITESPACE}]*\+?[0-9][0-9 ()\-.]*[{WHITESPACE}]*$",
        pattern_message="must be a phone number: digits, spaces, ( ) - . and an optional leading +",
    ),
]
SearchTerm = Annotated[str, Text(max_length=200, min_length=1, strip=False)]
PageLimit = Annotated[int, Field(ge=1, le=200)]

# Free-form JSON stored as jsonb: any JSON value, except what jsonb refuses (NUL in a string or key; an
# unpaired surrogate, which no pattern can state, is refused too: the API takes I-JSON, RFC 7493).
_NO_NUL = r"^[^\x00]*$"


@dataclass(frozen=True, slots=True)
class JsonObjectSchema:
    """The JSON Schema of a free-form JSON object jsonb can store (used as ``Annotated[dict[str, Any], ...]``
    beside the validator that enforces it). The value schema is recursive, so it is one named definition,
    ``JsonValue``, built through pydantic's own definitions (FastAPI moves it into the components)."""

    description: str

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        key = core_schema.str_schema(pattern=_NO_NUL)
        value = core_schema.definition_reference_schema("JsonValue")
        json_value = core_schema.union_schema(
            [
                core_schema.none_schema(),
                core_schema.bool_schema(),
                core_schema.float_schema(allow_inf_nan=False),
                core_schema.str_schema(pattern=_NO_NUL),
                core_schema.list_schema(value),
                core_schema.dict_schema(keys_schema=key, values_schema=value),
            ],
            ref="JsonValue",
        )
        result = handler(core_schema.definitions_schema(core_schema.dict_schema(key, value), [json_value]))
        # pydantic states key rules as patternProperties, which alone let any other key through.
        result["additionalProperties"] = False
        definition = handler.resolve_ref_schema(result["patternProperties"][_NO_NUL])
        for choice in definition["anyOf"]:
            if choice.get("type") == "object":
                choice["additionalProperties"] = False
        result["description"] = self.description
        return result


# --- Days and instants -------------------------------------------------------------------------------
#
# Python, asyncpg and so this service carry years 1-9999 only. A day keeps one day of margin on each side,
# so the day before and the day after always exist (a validity period is stored up to the day after its
# end); an instant's own day keeps that margin too, which puts it within years 1-9999 in UTC whatever its
# offset (offsets stay under 24 hours). One grammar, as a regular expression, is both the check and the
# `pattern` in the OpenAPI document, so the two cannot disagree.

_DD = r"(0[1-9]|[12][0-9]|3[01])"
_MM_DD = rf"(0[1-9]|1[0-2])-{_DD}"
DAY_PATTERN = (
    r"(000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
    rf"-{_MM_DD}"
    rf"|0001-(01-(0[2-9]|[12][0-9]|3[01])|(0[2-9]|1[0-2])-{_DD})"
    rf"|9999-((0[1-9]|1[01])-{_DD}|12-(0[1-9]|[12][0-9]|30))"
)
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
_OFFSET = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
FIRST_DAY = date(1, 1, 2)
LAST_DAY = date(9999, 12, 30)

_DAY = re.compile(rf"^({DAY_PATTERN})$")
_INSTANT = re.compile(rf"^({DAY_PATTERN})T{_TIME}{_OFFSET}$")
_DAY_MESSAGE = f"must be a date as YYYY-MM-DD, from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
_INSTANT_MESSAGE = (
    "must be an ISO 8601 date-time with seconds and an offset, e.g. 2026-12-01T09:00:00+03:00, "
    f"on a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
)


def parse_day(value: object) -> date:
    """A business date: a ``YYYY-MM-DD`` string (never a number, which lax parsing reads as a Unix time)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:  # 2026-02-30: the grammar allows it, the calendar does not
            raise PydanticCustomError("day", _DAY_MESSAGE) from exc
    else:
        raise PydanticCustomError("day", _DAY_MESSAGE)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PydanticCustomError("day", _DAY_MESSAGE)
    return day


def parse_instant(value: object) -> datetime:
    """An instant: an ISO 8601 string with an offset (never a number), within years 1-9999 in UTC."""
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str) and _INSTANT.fullmatch(value):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError as exc:
            raise PydanticCustomError("instant", _INSTANT_MESSAGE) from exc
    else:
        raise PydanticCustomError("instant", _INSTANT_MESSAGE)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise PydanticCustomError("instant", _INSTANT_MESSAGE)
    if not FIRST_DAY <= instant.date() <= LAST_DAY:
        raise PydanticCustomError("instant", _INSTANT_MESSAGE)
    try:
        instant.astimezone(UTC)  # what asyncpg does before sending it; outside years 1-9999 it overflows
    except OverflowError as exc:
        raise PydanticCustomError("instant", _INSTANT_MESSAGE) from exc
    return instant


@dataclass(frozen=True, slots=True)
class _Parsed:
    """Validates with ``parse`` before the standard ``date``/``datetime`` schema; documents ``pattern``."""

    parse: Any
    pattern: str
    description: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.parse, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        json_schema.setdefault("description", self.description)
        return json_schema


Day = Annotated[
    date,
    _Parsed(
        parse_day,
        _DAY.pattern,
        f"YYYY-MM-DD, {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.",
    ),
]
Instant = Annotated[
    datetime,
    _Parsed(
        parse_instant,
        _INSTANT.pattern,
        "ISO 8601 with seconds and an offset (`Z` or `±hh:mm`); its day from "
        f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}, so it lies within years 1-9999 in UTC.",
    ),
]
