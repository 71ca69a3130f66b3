from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from crm.domain.money import Amount, Currency


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
