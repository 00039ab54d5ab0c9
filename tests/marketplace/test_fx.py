"""Currency conversion: exact integers, rounded half up to the target's minor unit."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.fx import STARTING_RATES, MissingRate, convert, load_rates
from marketplace.money import Money

RATES = {"EUR": 1_000_000, "USD": 1_100_000, "JPY": 160_000_000, "KWD": 337_000}


def test_euros_to_dollars_at_the_recorded_rate():
    assert convert(Money(1000, "EUR"), "USD", RATES) == Money(1100, "USD")


def test_converting_to_yen_drops_the_minor_digits_and_rounds_half_up():
    # 12.34 EUR * 160 = 1974.4 JPY -> 1974; 12.35 * 160 = 1976 exactly; 0.03 * 160 = 4.8 -> 5
    assert convert(Money(1234, "EUR"), "JPY", RATES) == Money(1974, "JPY")
    assert convert(Money(3, "EUR"), "JPY", RATES) == Money(5, "JPY")


def test_yen_to_kuwaiti_dinar_gains_three_minor_digits():
    # 1600 JPY = 10 EUR = 3.370 KWD
    assert convert(Money(1600, "JPY"), "KWD", RATES) == Money(3370, "KWD")


def test_negative_amounts_round_symmetrically():
    assert convert(Money(-3, "EUR"), "JPY", RATES) == Money(-5, "JPY")


def test_the_same_currency_is_returned_unchanged():
    assert convert(Money(1, "USD"), "USD", {}) == Money(1, "USD")


def test_a_currency_without_a_rate_is_refused_by_name():
    with pytest.raises(MissingRate, match="GBP"):
        convert(Money(100, "EUR"), "GBP", RATES)


@given(st.integers(min_value=0, max_value=10**12))
def test_a_round_trip_through_dollars_stays_within_one_cent(amount):
    there = convert(Money(amount, "EUR"), "USD", RATES)
    back = convert(there, "EUR", RATES)
    assert abs(back.amount_minor - amount) <= 1


def test_a_fresh_install_has_the_starting_rates(app):
    assert load_rates() == STARTING_RATES
