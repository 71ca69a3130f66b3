"""Money: ``Decimal`` with two places, served as a string; currency as an ISO 4217 code.

Input is a JSON number or a string. A string is written plainly: an optional minus, at most 12 integer digits
(no leading zeros), at most 2 significant decimals (``"1000"``, ``"1000.5"``, ``"1000.50"``, ``"1000.500"``).
Each amount type publishes that grammar, narrowed to its sign, as the ``pattern`` of its string form, and its
range as the bounds of its number form, so the OpenAPI document says exactly which amounts are accepted.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from crm.domain.types import WHITESPACE

MAX_INTEGER_DIGITS = 12
CENT = Decimal("0.01")
LIMIT = 10**MAX_INTEGER_DIGITS

_FRACTION = r"(\.[0-9]{1,2}0*)?"
_NOT_ZERO = rf"([1-9][0-9]{{0,11}}{_FRACTION}|0\.(0[1-9]|[1-9][0-9]?)0*)"
AMOUNT_PATTERN = rf"^-?(0|[1-9][0-9]{{0,11}}){_FRACTION}$"
NON_NEGATIVE_PATTERN = rf"^(0|[1-9][0-9]{{0,11}}){_FRACTION}$"
POSITIVE_PATTERN = rf"^{_NOT_ZERO}$"
NON_ZERO_PATTERN = rf"^-?{_NOT_ZERO}$"
SERVED_PATTERN = r"^-?[0-9]{1,12}\.[0-9]{2}$"

_AMOUNT = re.compile(AMOUNT_PATTERN)
_MESSAGE = 'must be a decimal number such as "1000.00": at most 12 digits before the point and 2 after'


def parse_amount(value: Any) -> Decimal:
    """A string or number with at most 2 decimal places and 12 integer digits; never a float's noise.

    Floats are read through their shortest repr (``0.1`` is ``Decimal("0.1")``), so JSON numbers work.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(_MESSAGE)
    if isinstance(value, str):
        if _AMOUNT.fullmatch(value) is None:
            raise ValueError(_MESSAGE)
        amount = Decimal(value)
    else:
        try:
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(_MESSAGE) from exc
        if amount == 0:
            amount = Decimal(0)  # a JSON -0.0 is zero, as the schema's number bounds read it
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
    if abs(amount) >= LIMIT:
        raise ValueError(f"must have at most {MAX_INTEGER_DIGITS} integer digits")
    return amount


def _serialize(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):f}"


def _input_schema(pattern: str, example: str, **bounds: Any) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "pattern": pattern, "examples": [example]},
            {"type": "number", "multipleOf": 0.01, "exclusiveMaximum": LIMIT, **bounds},
        ]
    }


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


def _not_negative(amount: Decimal) -> Decimal:
    # "-0.00" is refused too: the pattern has no minus sign.
    if amount < 0 or amount.is_signed():
        raise ValueError("must not be negative")
    return amount


def _not_zero(amount: Decimal) -> Decimal:
    if amount == 0:
        raise ValueError("must not be 0; a negative amount is a correction (refund, write-off) with a note")
    return amount


_Parsed = BeforeValidator(parse_amount)
_Served = PlainSerializer(_serialize, return_type=str, when_used="json")
_ServedSchema = WithJsonSchema(
    {"type": "string", "pattern": SERVED_PATTERN, "examples": ["1000.00"]}, mode="serialization"
)

Amount = Annotated[
    Decimal,
    _Parsed,
    _Served,
    _ServedSchema,
    WithJsonSchema(_input_schema(AMOUNT_PATTERN, "1000.00", exclusiveMinimum=-LIMIT), mode="validation"),
]
PositiveAmount = Annotated[
    Decimal,
    _Parsed,
    AfterValidator(_positive),
    _Served,
    _ServedSchema,
    WithJsonSchema(_input_schema(POSITIVE_PATTERN, "1000.00", exclusiveMinimum=0), mode="validation"),
]
NonNegativeAmount = Annotated[
    Decimal,
    _Parsed,
    AfterValidator(_not_negative),
    _Served,
    _ServedSchema,
    WithJsonSchema(_input_schema(NON_NEGATIVE_PATTERN, "1000.00", minimum=0), mode="validation"),
]
# A correction (refund, write-off) is negative; nothing is zero.
NonZeroAmount = Annotated[
    Decimal,
    _Parsed,
    AfterValidator(_not_zero),
    _Served,
    _ServedSchema,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": NON_ZERO_PATTERN, "examples": ["1000.00", "-150.00"]},
                {
                    "type": "number",
                    "multipleOf": 0.01,
                    "exclusiveMinimum": -LIMIT,
                    "exclusiveMaximum": LIMIT,
                    "not": {"const": 0},
                },
            ]
        },
        mode="validation",
    ),
]


# The currencies ISO 4217 lists, from pycountry's copy of the standard.
ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies)
# What parse_currency accepts, for the document: any listed code in any letter case, with whitespace around.
CURRENCY_PATTERN = "^[{ws}]*({codes})[{ws}]*$".format(
    ws=WHITESPACE,
    codes="|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(ISO_4217)),
)


def parse_currency(value: Any) -> str:
    """An ISO 4217 code, trimmed and upper-cased (``" rub "`` is ``RUB``)."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code, e.g. RUB")
    return code


Currency = Annotated[
    str,
    BeforeValidator(parse_currency),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CURRENCY_PATTERN,
            "description": "ISO 4217 code; surrounding whitespace is trimmed and letters upper-cased.",
            "examples": ["RUB"],
        }
    ),
]
