"""A currency is an ISO 4217 code, checked against the standard's list (pycountry), not any three letters."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from crm.app.config import Settings
from crm.domain.money import Currency

CURRENCY = TypeAdapter(Currency)


@pytest.mark.parametrize(("given", "code"), [("RUB", "RUB"), (" usd ", "USD"), ("eur", "EUR"), ("KZT", "KZT")])
def test_iso_4217_codes_are_trimmed_and_upper_cased(given, code):
    assert CURRENCY.validate_python(given) == code


@pytest.mark.parametrize("given", ["XYZ", "ABC", "RU", "RUBL", "", 840, None, "РУБ"])
def test_three_letters_that_are_no_currency_are_refused(given):
    with pytest.raises(ValidationError, match="ISO 4217"):
        CURRENCY.validate_python(given)


def test_the_default_currency_setting_is_checked_too():
    assert Settings(_env_file=None, default_currency="usd").default_currency == "USD"  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, default_currency="ABC")  # type: ignore[call-arg]
