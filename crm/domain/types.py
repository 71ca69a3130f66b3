"""Value types shared by the modules' schemas: free text and page sizes.

Each type is checked once, here, so that nothing a client sends can fail later inside the database, and
each publishes a JSON Schema that says exactly what it accepts (the OpenAPI document is generated from it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
