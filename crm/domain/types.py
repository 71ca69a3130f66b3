"""Value types shared by the modules' schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints


def reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here instead of failing inside the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def strip_text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# Building blocks for a module's own text types: Annotated[str, Stripped, StringConstraints(...), NoNul].
Stripped = BeforeValidator(strip_text)
NoNul = AfterValidator(reject_nul)


Name = Annotated[
    str,
    Stripped,
    StringConstraints(min_length=1, max_length=255),
    NoNul,
]
Title = Name
LongText = Annotated[str, StringConstraints(max_length=10_000), NoNul]
Email = Annotated[
    str,
    Stripped,
    StringConstraints(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"),
]
Phone = Annotated[
    str,
    Stripped,
    StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 ()\-.]*$"),
]
SearchTerm = Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
PageLimit = Annotated[int, Field(ge=1, le=200)]
