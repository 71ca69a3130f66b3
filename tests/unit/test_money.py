from decimal import Decimal

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from crm.domain.money import Amount, Currency, NonNegativeAmount, NonZeroAmount, PositiveAmount


class Priced(BaseModel):
    amount: Amount
    currency: Currency = "RUB"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1000", "1000.00"),
        ("1000.5", "1000.50"),
        (0.1, "0.10"),
        (12, "12.00"),
        ("-5.25", "-5.25"),
        ("999999999999.99", "999999999999.99"),
        ("1.230", "1.23"),
    ],
)
def test_amounts_are_two_place_decimals_served_as_strings(raw, expected):
    priced = Priced(amount=raw)
    assert priced.amount == Decimal(expected)
    assert priced.model_dump(mode="json")["amount"] == expected


@pytest.mark.parametrize(
    "raw",
    ["1.001", 0.005, "1000000000000", "1e3x", "1e400", 10**30, "1E-400", "NaN", "Infinity", True, None, [], "", "1,5"],
)
def test_bad_amounts_are_refused(raw):
    with pytest.raises(ValidationError):
        Priced(amount=raw)


def test_currency_is_trimmed_and_upper_cased():
    assert Priced(amount=1, currency=" rub ").currency == "RUB"
    for bad in ("RU", "RUBL", "R1B", 643, "РУБ"):
        with pytest.raises(ValidationError):
            Priced(amount=1, currency=bad)


# --- The published schema of each amount type is exactly what it accepts ---------------------------------

AMOUNT_TYPES = {
    "Amount": Amount,
    "PositiveAmount": PositiveAmount,
    "NonNegativeAmount": NonNegativeAmount,
    "NonZeroAmount": NonZeroAmount,
    "Currency": Currency,
}
_NUMBERISH = st.from_regex(r"\A-?[0-9]{0,14}(\.[0-9]{0,4})?\Z") | st.sampled_from(
    ["-0", "-0.00", "0.0", "0.000", "00.10", "1.", ".5", "1e3", " 1.00", "1.001", "1.2300", "٣", "+1", "rub", " rUb "]
)
_NUMBERS = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(10**14), 10**14)
    | st.decimals(places=3, min_value=-(10**13), max_value=10**13).map(float)
)


@pytest.mark.parametrize("name", sorted(AMOUNT_TYPES))
@settings(max_examples=250, deadline=None)
@given(value=_NUMBERISH | _NUMBERS)
@example(value=-0.0)
@example(value=999999999999.99)
@example(value=1e12)
def test_an_amount_is_accepted_exactly_when_its_schema_allows_it(name, value):
    adapter = TypeAdapter(AMOUNT_TYPES[name])
    schema = adapter.json_schema(mode="validation")
    allowed = jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid(value)
    try:
        adapter.validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == allowed, (value, schema)
