"""Prices around the search: the index compares prices in the base currency
(``marketplace.fx.BASE_CURRENCY``) so vendors' currencies mix fairly, while buyers filter, see
price ranges and approximate prices in their own currency.

Price-range bounds typed by a buyer are converted to base-currency minor units on the way in;
the price facet's buckets are round amounts of the buyer's currency (1 / 2.5 / 5 steps)
converted the same way. Conversions use ``marketplace.fx.convert`` (integers, half up).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from babel import Locale
from babel.numbers import format_currency, parse_pattern

from marketplace.fx import BASE_CURRENCY, MissingRate, convert
from marketplace.money import Money, currency_exponent

# Price buckets are these amounts in EUR, converted to the buyer's currency and rounded to a
# 1 / 2.5 / 5 step, so a yen shopper sees ¥2,500 - ¥5,000 rather than ¥1,600 - ¥4,000.
PRICE_ANCHORS_EUR = (10, 25, 50, 100, 250, 500)


def plain(amount: Decimal) -> str:
    """``amount`` without trailing zeros or exponent: 25.00 -> "25", 2.5E+3 -> "2500"."""
    return format(amount.normalize(), "f")


def _nice(value: Decimal) -> Decimal:
    """The nearest of 1, 2.5, 5 times a power of ten (by ratio)."""
    exponent = value.adjusted()
    candidates = [Decimal(step).scaleb(exponent) for step in ("1", "2.5", "5", "10")]
    return min(candidates, key=lambda c: max(c / value, value / c))


def _quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), ROUND_HALF_UP)


def price_bounds(currency: str, rates: Mapping[str, int]) -> tuple[Decimal, ...]:
    """Upper bounds of the price buckets, ascending, in ``currency`` major units."""
    return _price_bounds(currency, tuple(sorted(rates.items())))


@functools.lru_cache(maxsize=256)
def _price_bounds(currency: str, rates_items: tuple[tuple[str, int], ...]) -> tuple[Decimal, ...]:
    rates = dict(rates_items)
    bounds: list[Decimal] = []
    for anchor in PRICE_ANCHORS_EUR:
        try:
            local = convert(Money.from_decimal(Decimal(anchor), "EUR"), currency, dict(rates))
        except MissingRate:
            local = Money.from_decimal(Decimal(anchor), currency)
        bound = Decimal(plain(_quantize(_nice(local.to_decimal()), currency)))
        if bound > 0 and (not bounds or bound > bounds[-1]):
            bounds.append(bound)
    return tuple(bounds)


def to_base_minor(amount: Decimal, currency: str, rates: Mapping[str, int]) -> int:
    """``amount`` of ``currency`` (major units) in base-currency minor units."""
    money = Money.from_decimal(_quantize(amount, currency), currency)
    try:
        return convert(money, BASE_CURRENCY, dict(rates)).amount_minor
    except MissingRate:  # an unknown rate: compare as if 1:1 rather than fail the page
        return money.amount_minor


def approximate(price: Money, currency: str, rates: Mapping[str, int]) -> Money | None:
    """``price`` converted to ``currency`` for display, or None when it is in it already
    (or there is no rate to convert with)."""
    if price.currency == currency:
        return None
    try:
        return convert(price, currency, dict(rates))
    except MissingRate:
        return None


@functools.lru_cache(maxsize=4096)
def format_whole(amount: Decimal, currency: str, locale: str) -> str:
    """A round amount without minor digits, as the locale writes money: "€25", "25 €"."""
    if amount != amount.to_integral_value():
        return Money.from_decimal(_quantize(amount, currency), currency).format(locale)
    pattern = parse_pattern(_currency_pattern(locale))
    pattern.frac_prec = (0, 0)
    return format_currency(amount, currency, format=pattern, locale=locale,
                           currency_digits=False)


def _currency_pattern(locale: str) -> str:
    return Locale.parse(locale).currency_formats["standard"].pattern
