"""Ratios and durations as the figures serve them: exact until the end, rounded half up once to a fixed number
of places, and served as decimal strings, as money is (lead statistics and analytics alike)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

SHARE_PLACES = 4
SECONDS_PLACES = 3

Share = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(0\.[0-9]{4}|1\.0000)$",
            "examples": ["0.2500"],
            "description": "A ratio from 0 to 1 with 4 decimal places, rounded half up.",
        },
        mode="serialization",
    ),
]
Seconds = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+\.[0-9]{3}$",
            "examples": ["754.250"],
            "description": "Seconds with 3 decimal places, rounded half up.",
        },
        mode="serialization",
    ),
]


def ratio(part: Fraction | int, whole: int) -> Decimal | None:
    """``part / whole`` rounded half up to ``SHARE_PLACES``, computed on integers (no binary fraction on the
    way); ``None`` when ``whole`` is 0."""
    if whole == 0:
        return None
    exact = Fraction(part) / whole * 10**SHARE_PLACES
    rounded = (2 * exact.numerator + exact.denominator) // (2 * exact.denominator)
    return Decimal(rounded).scaleb(-SHARE_PLACES)


def seconds(value: Decimal | None) -> Decimal | None:
    """Exact seconds rounded half up to ``SECONDS_PLACES``; ``None`` stays ``None`` (nothing was measured)."""
    return None if value is None else value.quantize(Decimal(1).scaleb(-SECONDS_PLACES), rounding=ROUND_HALF_UP)
