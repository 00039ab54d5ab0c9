"""Money as an integer count of minor units tagged with its ISO 4217 currency.

Amounts never pass through floats, currencies never mix silently, and splitting
an amount (refunds, multi-vendor orders, payouts) always accounts for every
minor unit. Precision comes from Babel's CLDR data, so JPY has no minor units,
EUR has two and KWD has three.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, list_currencies

__all__ = ["CurrencyMismatch", "Money", "UnknownCurrency", "currency_exponent"]

# A short string such as "1E999999999" would otherwise become an integer with a
# billion digits; no ledger holds amounts anywhere near this many digits.
_MAX_INTEGER_DIGITS = 30


class CurrencyMismatch(ValueError):
    """Raised when an operation combines amounts in different currencies."""


class UnknownCurrency(ValueError):
    """Raised for a currency code that is not a known ISO 4217 code."""


@functools.cache
def _known_currencies() -> frozenset[str]:
    # Loaded on first use rather than at import, so importing this module
    # does not read Babel's currency data until money is actually handled.
    return frozenset(list_currencies())


# functools.cache is lru_cache(maxsize=None). It stays small because exceptions
# are not cached: only the few hundred known codes are ever stored.
@functools.cache
def currency_exponent(code: str) -> int:
    """Return how many minor-unit digits ``code`` has (JPY 0, EUR 2, KWD 3).

    The code must be exactly three uppercase letters known to Babel; no case
    folding happens here.

    Raises:
        UnknownCurrency: if ``code`` is not a known ISO 4217 code.
    """
    # Babel answers 2 for any code it does not know, so an unchecked typo
    # would quietly get cents.
    if not isinstance(code, str) or code not in _known_currencies():
        raise UnknownCurrency(f"unknown currency code: {code!r}")
    return get_currency_precision(code)


def _normalise_code(currency: object) -> str:
    """Return ``currency`` upper-cased.

    Raises:
        UnknownCurrency: if ``currency`` is not a str or not a known code.
    """
    if not isinstance(currency, str):
        raise UnknownCurrency(f"unknown currency code: {currency!r}")
    code = currency.upper()
    currency_exponent(code)
    return code


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``amount_minor`` minor units of ``currency``.

    ``currency`` is upper-cased on construction, so ``Money(1, "eur")`` equals
    ``Money(1, "EUR")``. Equality is plain field equality, so amounts in
    different currencies are simply unequal; ordering and arithmetic across
    currencies raise ``CurrencyMismatch`` instead. There is no ``__bool__``:
    whether "no money" is falsy is ambiguous, so callers ask ``is_zero()``.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        """Validate the fields and upper-case the currency code.

        Raises:
            TypeError: if ``amount_minor`` is not an int (bools and floats included).
            UnknownCurrency: if ``currency`` is not a known ISO 4217 code.
        """
        # bool is an int subclass, and True cents is always a bug.
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError(f"amount_minor must be an int, not {type(self.amount_minor).__name__}")
        # The instance is frozen; this is the one sanctioned write.
        object.__setattr__(self, "currency", _normalise_code(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in ``currency``.

        Raises:
            UnknownCurrency: if ``currency`` is not a known ISO 4217 code.
        """
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str, currency: str) -> Money:
        """Convert a major-unit amount such as ``"12.34"`` to Money, exactly.

        Trailing zeros are fine (``"1.230"`` EUR is 123 cents); digits the
        currency cannot hold are an error rather than being rounded away.

        Raises:
            TypeError: if ``value`` is neither a Decimal nor a str (floats are
                refused because they are already inexact).
            UnknownCurrency: if ``currency`` is not a known ISO 4217 code.
            ValueError: if ``value`` is not a finite number, is implausibly
                large, or has more fractional digits than the currency's exponent.
        """
        if isinstance(value, str):
            try:
                value = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"not a decimal number: {value!r}") from None
        elif not isinstance(value, Decimal):
            raise TypeError(f"value must be a Decimal or str, not {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"amount must be finite, not {value}")
        code = _normalise_code(currency)
        exponent = currency_exponent(code)

        # Work on the significant digits with integer arithmetic: Decimal
        # operations round to the context precision, and stripping trailing
        # zeros first means "1.230" is judged by its value, not its spelling,
        # and "1E-999999999" is refused without building a huge power of ten.
        sign, digits, value_exponent = value.as_tuple()
        significant = list(digits)
        while significant and significant[-1] == 0:
            significant.pop()
            value_exponent += 1
        if not significant:
            return cls(0, code)
        shift = value_exponent + exponent
        if shift < 0:
            raise ValueError(
                f"{value} has more fractional digits than {code} allows (exponent {exponent})"
            )
        if value.adjusted() >= _MAX_INTEGER_DIGITS:
            raise ValueError(f"amount {value} is too large")
        amount_minor = int("".join(map(str, significant))) * 10**shift
        return cls(-amount_minor if sign else amount_minor, code)

    def to_decimal(self) -> Decimal:
        """Return the amount in major units, exactly, e.g. ``Decimal("12.34")``.

        The result keeps the currency's exponent, so 100 cents is ``1.00``.
        """
        exponent = currency_exponent(self.currency)
        # Built from a string because Decimal.scaleb would round large values
        # to the context precision.
        return Decimal(f"{self.amount_minor}E-{exponent}")

    def is_zero(self) -> bool:
        """Return whether the amount is zero."""
        return self.amount_minor == 0

    def _require_same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: object) -> Money:
        """Add another amount in the same currency.

        Raises:
            CurrencyMismatch: if the currencies differ.
            TypeError: (via NotImplemented) if ``other`` is not Money.
        """
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: object) -> Money:
        """Subtract another amount in the same currency.

        Raises:
            CurrencyMismatch: if the currencies differ.
            TypeError: (via NotImplemented) if ``other`` is not Money.
        """
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __mul__(self, factor: object) -> Money:
        """Multiply by an int.

        Only ints are accepted: a fractional factor needs an explicit rounding
        rule (see ``allocate`` for exact splitting).

        Raises:
            TypeError: (via NotImplemented) if ``factor`` is not an int, or is a bool.
        """
        if not isinstance(factor, int) or isinstance(factor, bool):
            return NotImplemented
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        """Raises CurrencyMismatch if the currencies differ."""
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: object) -> bool:
        """Raises CurrencyMismatch if the currencies differ."""
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: object) -> bool:
        """Raises CurrencyMismatch if the currencies differ."""
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: object) -> bool:
        """Raises CurrencyMismatch if the currencies differ."""
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other)
        return self.amount_minor >= other.amount_minor

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split the amount in proportion to ``weights``, losing no minor unit.

        Uses the largest-remainder method: every part gets the floor of its
        exact share, and the minor units left over go one each to the parts
        with the largest remainders, ties going to the earlier index. The parts
        always sum to ``self``, each is within one minor unit of its exact
        share, and a zero weight always gets zero. A negative amount is split
        as its absolute value and the parts negated, so signs never mix.

        Raises:
            TypeError: if a weight is not an int (or is a bool).
            ValueError: if ``weights`` is empty, has a negative weight, or sums to zero.
        """
        weights = list(weights)
        for weight in weights:
            if not isinstance(weight, int) or isinstance(weight, bool):
                raise TypeError(f"weights must be ints, not {type(weight).__name__}")
            if weight < 0:
                raise ValueError(f"weights must be non-negative, got {weight}")
        total_weight = sum(weights)
        if total_weight <= 0:
            raise ValueError("weights must have a positive sum")

        whole = abs(self.amount_minor)
        shares = [divmod(whole * weight, total_weight) for weight in weights]
        parts = [quotient for quotient, _ in shares]
        leftover = whole - sum(parts)
        # sorted() is stable, so equal remainders keep index order.
        by_remainder = sorted(range(len(weights)), key=lambda i: -shares[i][1])
        for index in by_remainder[:leftover]:
            parts[index] += 1

        sign = -1 if self.amount_minor < 0 else 1
        return [Money(sign * part, self.currency) for part in parts]

    def split(self, n: int) -> list[Money]:
        """Split the amount into ``n`` parts differing by at most one minor unit.

        Earlier parts get the extra units, e.g. 5 JPY split 2 ways is [3, 2].

        Raises:
            TypeError: if ``n`` is not an int (or is a bool).
            ValueError: if ``n`` is not positive.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        return self.allocate([1] * n)

    def format(self, locale: str | Locale = "en") -> str:
        """Return the amount formatted for display in ``locale``.

        E.g. ``"€1,234.56"`` in ``en`` and ``"1.234,56\\xa0€"`` in ``de`` (Babel
        uses a non-breaking space there).

        Raises:
            babel.UnknownLocaleError: if ``locale`` is not a known locale.
        """
        return format_currency(self.to_decimal(), self.currency, locale=locale)

    def __str__(self) -> str:
        """Return an exact, unlocalised form for logs, e.g. ``"12.34 EUR"``."""
        return f"{self.to_decimal():f} {self.currency}"
