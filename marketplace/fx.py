"""Exchange rates and currency conversion, in integers.

A rate says how many units of a currency one unit of the base currency (EUR) buys, stored in
millionths (``per_base_micro``): USD at 1.10 is 1_100_000, JPY at 160 is 160_000_000. The
storefront uses it to compare and sort prices across vendors' currencies and to show the
buyer's currency; checkout snapshots the rate it charged with (the checkout issue).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money, currency_exponent

BASE_CURRENCY = "EUR"
MICRO = 1_000_000
# The rates a fresh install starts with (migration 0002 inserts the same), kept current by
# admins later.
STARTING_RATES = {"EUR": 1_000_000, "USD": 1_100_000, "GBP": 850_000, "JPY": 160_000_000}


class MissingRate(LookupError):
    """No exchange rate is recorded for a currency."""


class ExchangeRate(db.Model):
    __tablename__ = "exchange_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    per_base_micro: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (CheckConstraint("per_base_micro > 0", name="rate_positive"),)


def load_rates() -> dict[str, int]:
    """Every recorded rate as ``{currency: per_base_micro}`` (one query)."""
    return dict(db.session.execute(select(ExchangeRate.currency,
                                          ExchangeRate.per_base_micro)).all())


def _div_round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding halves away from zero (money's usual commercial rounding)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def convert(amount: Money, to_currency: str, rates: dict[str, int]) -> Money:
    """``amount`` in ``to_currency`` at ``rates``, rounded half up to its minor unit.

    Raises MissingRate when either currency has no rate.
    """
    if amount.currency == to_currency:
        return amount
    try:
        source, target = rates[amount.currency], rates[to_currency]
    except KeyError as missing:
        raise MissingRate(f"no exchange rate for {missing.args[0]}") from None
    # minor_to = minor_from * 10^(exp_to - exp_from) * target / source, in one exact fraction.
    shift = currency_exponent(to_currency) - currency_exponent(amount.currency)
    numerator = amount.amount_minor * target * 10 ** max(shift, 0)
    denominator = source * 10 ** max(-shift, 0)
    return Money(_div_round_half_up(numerator, denominator), to_currency)
