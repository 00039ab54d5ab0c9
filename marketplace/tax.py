"""Sales tax (VAT/GST) by destination country, from the ``tax_rates`` table.

A rate is in basis points (2000 = 20 %). ``inclusive`` says whether shoppers in that country
expect shown prices to include the tax (Europe, Australia) or to see it added at checkout
(the United States, Canada). Countries without a row pay no tax.

The starting rates are inserted by migration 0007 (standard rates; admins manage them later).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Boolean, CheckConstraint, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import utcnow
from marketplace.extensions import db

# (country, rate in basis points, shown prices include it, name on the receipt)
STARTING_TAX_RATES: tuple[tuple[str, int, bool, str], ...] = (
    ("AT", 2000, True, "USt"), ("BE", 2100, True, "BTW"), ("DE", 1900, True, "MwSt"),
    ("DK", 2500, True, "moms"), ("ES", 2100, True, "IVA"), ("FI", 2550, True, "ALV"),
    ("FR", 2000, True, "TVA"), ("IE", 2300, True, "VAT"), ("IT", 2200, True, "IVA"),
    ("NL", 2100, True, "btw"), ("PL", 2300, True, "VAT"), ("PT", 2300, True, "IVA"),
    ("SE", 2500, True, "moms"), ("GB", 2000, True, "VAT"), ("CH", 810, True, "MWST"),
    ("NO", 2500, True, "MVA"), ("AU", 1000, True, "GST"), ("NZ", 1500, True, "GST"),
    ("JP", 1000, True, "JCT"), ("CA", 500, False, "GST"), ("US", 0, False, "Sales tax"),
)


class TaxRate(db.Model):
    __tablename__ = "tax_rates"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    rate_bp: Mapped[int] = mapped_column(Integer)
    inclusive: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="rate_in_range"),
    )


@dataclass(frozen=True)
class TaxRule:
    country: str
    rate_bp: int
    inclusive: bool
    name: str


def rule_for(country: str) -> TaxRule:
    """The tax rule of a destination; a country without a row has none (0 %, added on top)."""
    row = db.session.scalar(select(TaxRate).where(TaxRate.country == country.upper()))
    if row is None:
        return TaxRule(country.upper(), 0, False, "")
    return TaxRule(row.country, row.rate_bp, row.inclusive, row.name)
