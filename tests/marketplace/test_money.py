from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.money import (
    CurrencyMismatch,
    Money,
    UnknownCurrency,
    currency_exponent,
)

currencies = st.sampled_from(["JPY", "EUR", "KWD"])
amounts = st.integers(min_value=-(10**15), max_value=10**15)
weight_lists = st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=20).filter(
    lambda weights: sum(weights) > 0
)


@given(amount=amounts, currency=currencies, weights=weight_lists)
def test_allocate_parts_sum_to_whole_and_stay_within_one_unit_of_exact_share(
    amount, currency, weights
):
    whole = Money(amount, currency)

    parts = whole.allocate(weights)

    total_weight = sum(weights)
    assert len(parts) == len(weights)
    assert sum(part.amount_minor for part in parts) == amount
    assert all(part.currency == currency for part in parts)
    # |part - amount * w / W| < 1, kept in integers to stay exact.
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part.amount_minor * total_weight - amount * weight) < total_weight


@given(amount=amounts, currency=currencies, n=st.integers(min_value=1, max_value=50))
def test_split_parts_differ_by_at_most_one_minor_unit(amount, currency, n):
    whole = Money(amount, currency)

    parts = whole.split(n)

    minors = [part.amount_minor for part in parts]
    assert len(parts) == n
    assert sum(minors) == amount
    assert max(minors) - min(minors) <= 1


def test_allocate_gives_leftover_cent_to_earliest_tie():
    whole = Money(100, "EUR")

    parts = whole.allocate([1, 1, 1])

    assert parts == [Money(34, "EUR"), Money(33, "EUR"), Money(33, "EUR")]


def test_allocate_negative_amount_mirrors_positive():
    whole = Money(-100, "EUR")

    parts = whole.allocate([1, 1, 1])

    assert parts == [Money(-34, "EUR"), Money(-33, "EUR"), Money(-33, "EUR")]


def test_allocate_gives_zero_weight_nothing():
    whole = Money(101, "EUR")

    parts = whole.allocate([0, 1, 0, 1])

    assert [part.amount_minor for part in parts] == [0, 51, 0, 50]


def test_allocate_goes_to_largest_remainder_not_first_index():
    whole = Money(10, "EUR")

    parts = whole.allocate([1, 2])

    assert [part.amount_minor for part in parts] == [3, 7]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1, 1]])
def test_allocate_rejects_weights_without_positive_sum_or_with_negatives(weights):
    with pytest.raises(ValueError):
        Money(100, "EUR").allocate(weights)


@pytest.mark.parametrize("weights", [[1.0, 1.0], [True, False]])
def test_allocate_rejects_non_int_weights(weights):
    with pytest.raises(TypeError):
        Money(100, "EUR").allocate(weights)


def test_split_yen_gives_extra_unit_to_first_part():
    whole = Money(5, "JPY")

    parts = whole.split(2)

    assert [part.amount_minor for part in parts] == [3, 2]


@pytest.mark.parametrize("n", [0, -1])
def test_split_rejects_non_positive_counts(n):
    with pytest.raises(ValueError):
        Money(5, "JPY").split(n)


@pytest.mark.parametrize(("code", "exponent"), [("JPY", 0), ("EUR", 2), ("KWD", 3), ("BHD", 3)])
def test_currency_exponent_comes_from_babel(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XXY", "eur", "EU", "EURO", ""])
def test_currency_exponent_rejects_unknown_codes(code):
    with pytest.raises(UnknownCurrency):
        currency_exponent(code)


def test_from_decimal_rejects_more_digits_than_currency_has():
    with pytest.raises(ValueError, match=r"EUR allows \(exponent 2\)"):
        Money.from_decimal("1.234", "EUR")


def test_from_decimal_kwd_keeps_three_digits():
    money = Money.from_decimal("1.234", "KWD")

    assert money.amount_minor == 1234
    assert money.currency == "KWD"


@pytest.mark.parametrize(
    ("value", "currency", "amount_minor"),
    [
        ("12.34", "EUR", 1234),
        ("-0.05", "EUR", -5),
        ("1.230", "EUR", 123),
        ("1E+3", "JPY", 1000),
        (Decimal("7"), "JPY", 7),
        ("0E+999999999", "EUR", 0),
    ],
)
def test_from_decimal_converts_exactly(value, currency, amount_minor):
    assert Money.from_decimal(value, currency) == Money(amount_minor, currency)


@pytest.mark.parametrize("value", ["1.5", "1E-999999999"])
def test_from_decimal_refuses_fractional_yen(value):
    with pytest.raises(ValueError, match="JPY"):
        Money.from_decimal(value, "JPY")


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "1E+999999999"])
def test_from_decimal_rejects_non_numbers_and_absurd_magnitudes(value):
    with pytest.raises(ValueError):
        Money.from_decimal(value, "EUR")


def test_from_decimal_rejects_float():
    with pytest.raises(TypeError):
        Money.from_decimal(1.5, "EUR")  # type: ignore[arg-type]


@given(amount=amounts, currency=currencies)
def test_to_decimal_round_trips_through_from_decimal(amount, currency):
    money = Money(amount, currency)

    assert Money.from_decimal(money.to_decimal(), currency) == money


def test_to_decimal_is_exact_beyond_default_decimal_precision():
    money = Money(12345678901234567890123456789012, "EUR")

    assert money.to_decimal() == Decimal("123456789012345678901234567890.12")


def test_adding_different_currencies_raises():
    with pytest.raises(CurrencyMismatch):
        Money(1, "EUR") + Money(1, "USD")


def test_subtracting_different_currencies_raises():
    with pytest.raises(CurrencyMismatch):
        Money(1, "EUR") - Money(1, "USD")


def test_arithmetic_in_one_currency():
    a = Money(150, "EUR")
    b = Money(25, "EUR")

    assert a + b == Money(175, "EUR")
    assert a - b == Money(125, "EUR")
    assert -a == Money(-150, "EUR")
    assert a * 3 == Money(450, "EUR")
    assert 3 * a == Money(450, "EUR")


@pytest.mark.parametrize("other", [1, 1.0, Decimal("1")])
def test_adding_plain_numbers_raises_type_error(other):
    with pytest.raises(TypeError):
        Money(1, "EUR") + other
    with pytest.raises(TypeError):
        other + Money(1, "EUR")


@pytest.mark.parametrize("factor", [1.5, Decimal("2"), True])
def test_multiplying_by_non_int_raises_type_error(factor):
    with pytest.raises(TypeError):
        Money(1, "EUR") * factor


@pytest.mark.parametrize("amount", [1.0, True, Decimal("1"), "1"])
def test_non_int_amount_raises_type_error(amount):
    with pytest.raises(TypeError):
        Money(amount, "EUR")


@pytest.mark.parametrize("code", ["XXY", "eurx", "", None])
def test_unknown_currency_raises(code):
    with pytest.raises(UnknownCurrency):
        Money(1, code)


def test_lowercase_currency_is_uppercased():
    assert Money(1, "eur") == Money(1, "EUR")
    assert Money(1, "eur").currency == "EUR"


def test_comparisons_in_one_currency():
    small = Money(1, "EUR")
    large = Money(2, "EUR")

    assert small < large
    assert small <= large
    assert small <= Money(1, "EUR")
    assert large > small
    assert large >= small
    assert large >= Money(2, "EUR")
    assert not large < small


@pytest.mark.parametrize(
    "compare",
    [
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_comparisons_across_currencies_raise(compare):
    with pytest.raises(CurrencyMismatch):
        compare(Money(1, "EUR"), Money(2, "USD"))


def test_equality_across_currencies_is_false_not_an_error():
    assert Money(1, "EUR") != Money(1, "USD")


def test_zero_and_is_zero():
    zero = Money.zero("KWD")

    assert zero == Money(0, "KWD")
    assert zero.is_zero()
    assert not Money(-1, "KWD").is_zero()


def test_money_is_immutable_and_hashable():
    money = Money(1, "EUR")

    with pytest.raises(AttributeError):
        money.amount_minor = 2  # type: ignore[misc]
    assert {money, Money(1, "EUR")} == {money}


@pytest.mark.parametrize(
    ("money", "locale", "expected"),
    [
        (Money(123456, "EUR"), "en", "€1,234.56"),
        (Money(123456, "EUR"), "de", "1.234,56\xa0€"),
        (Money(-123456, "EUR"), "de", "-1.234,56\xa0€"),
        (Money(1234, "JPY"), "en", "¥1,234"),
        (Money(1234, "KWD"), "en", "KWD1.234"),
    ],
)
def test_format_is_locale_aware(money, locale, expected):
    assert money.format(locale) == expected


def test_format_defaults_to_english():
    assert Money(100, "EUR").format() == "€1.00"


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (Money(1234, "EUR"), "12.34 EUR"),
        (Money(-5, "EUR"), "-0.05 EUR"),
        (Money(0, "KWD"), "0.000 KWD"),
        (Money(7, "JPY"), "7 JPY"),
    ],
)
def test_str_is_exact_and_unlocalised(money, expected):
    assert str(money) == expected
