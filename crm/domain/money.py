"""Money: ``Decimal`` with two places, served as a string; currency as an ISO 4217 code."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

MAX_INTEGER_DIGITS = 12
CENT = Decimal("0.01")


def parse_amount(value: Any) -> Decimal:
    """A string or number with at most 2 decimal places and 12 integer digits; never a float's noise.

    Floats are read through their shortest repr (``0.1`` is ``Decimal("0.1")``), so JSON numbers work.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('must be a decimal number or a string such as "1000.00"')
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError('must be a decimal number such as "1000.00"') from exc
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    # Checked before quantize(), which raises InvalidOperation past the context's precision (1e400).
    if amount != 0 and amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"must have at most {MAX_INTEGER_DIGITS} integer digits")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -2 and amount != amount.quantize(CENT):
        raise ValueError("must have at most 2 decimal places")
    amount = amount.quantize(CENT)
    if abs(amount) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise ValueError(f"must have at most {MAX_INTEGER_DIGITS} integer digits")
    return amount


def _serialize(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):f}"


Amount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    PlainSerializer(_serialize, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?\d{1,12}\.\d{2}$", "examples": ["1000.00"]}, mode="serialization"
    ),
    WithJsonSchema({"anyOf": [{"type": "string", "examples": ["1000.00"]}, {"type": "number"}]}, mode="validation"),
]


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


PositiveAmount = Annotated[Amount, AfterValidator(_positive)]
NonNegativeAmount = Annotated[Amount, AfterValidator(_not_negative)]


# The currencies ISO 4217 lists, from pycountry's copy of the standard.
ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies)


def parse_currency(value: Any) -> str:
    """An ISO 4217 code, trimmed and upper-cased (``" rub "`` is ``RUB``)."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code, e.g. RUB")
    return code


Currency = Annotated[
    str,
    BeforeValidator(parse_currency),
    WithJsonSchema({"type": "string", "pattern": "^ *[A-Za-z]{3} *$", "examples": ["RUB"]}),
]
