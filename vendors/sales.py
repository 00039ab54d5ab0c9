"""A vendor's sales over the last days, for the portal's front page chart.

Sub-order totals are in each buyer's currency, so the chart sums what the vendor itself
listed: ``vendor_unit_price_minor × quantity`` of the lines, in the vendor's currency, per UTC
day the order was paid. Parts the vendor rejected or the buyer cancelled are not sales; parts
not paid yet aren't either. The chart's geometry is computed here, so the template only
draws rectangles (server-rendered SVG, no script).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money
from vendors.order_models import Order, OrderLine, SubOrder, SubOrderStatus

CHART_DAYS = 30
SOLD_STATUSES = (SubOrderStatus.PAID, SubOrderStatus.ACCEPTED, SubOrderStatus.READY_TO_SHIP)

# The SVG's coordinate system (it scales to the width of the page).
WIDTH, HEIGHT = 600, 180
TOP, BOTTOM, LEFT = 12, 24, 4
BAR_GAP = 4


@dataclass(frozen=True)
class Bar:
    day: dt.date
    amount: Money
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SalesChart:
    currency: str
    bars: list[Bar]
    total: Money
    best: Money
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return self.total.is_zero()

    @property
    def first_day(self) -> dt.date:
        return self.bars[0].day

    @property
    def last_day(self) -> dt.date:
        return self.bars[-1].day


def daily_sales(vendor_id: int, currency: str, *, days: int = CHART_DAYS,
                today: dt.date | None = None) -> list[tuple[dt.date, int]]:
    """``(day, minor units)`` for each of the last ``days`` days up to ``today`` (UTC), zeros
    included, of the vendor's sales in ``currency``."""
    today = today or utcnow().date()
    start = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    rows = db.session.execute(
        select(Order.paid_at,
               func.sum(OrderLine.vendor_unit_price_minor * OrderLine.quantity))
        .join(SubOrder, SubOrder.order_id == Order.id)
        .join(OrderLine, OrderLine.sub_order_id == SubOrder.id)
        .where(SubOrder.vendor_id == vendor_id, OrderLine.vendor_id == vendor_id,
               SubOrder.status.in_(SOLD_STATUSES), Order.paid_at >= since,
               OrderLine.vendor_currency == currency)
        .group_by(SubOrder.id, Order.paid_at)
    ).all()
    totals = {start + dt.timedelta(days=n): 0 for n in range(days)}
    for paid_at, amount in rows:
        # SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones.
        day = (paid_at.astimezone(dt.UTC) if paid_at.tzinfo else paid_at).date()
        if day in totals:
            totals[day] += int(amount or 0)
    return sorted(totals.items())


def sales_chart(vendor_id: int, currency: str, *, days: int = CHART_DAYS,
                today: dt.date | None = None) -> SalesChart:
    """The bars of the last ``days`` days' sales, scaled to the best day."""
    series = daily_sales(vendor_id, currency, days=days, today=today)
    best = max((amount for _, amount in series), default=0)
    plot = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / len(series)
    bars = []
    for index, (day, amount) in enumerate(series):
        height = round(plot * amount / best, 1) if best else 0.0
        bars.append(Bar(day=day, amount=Money(amount, currency),
                        x=round(LEFT + index * slot + BAR_GAP / 2, 1),
                        y=round(HEIGHT - BOTTOM - height, 1),
                        width=round(slot - BAR_GAP, 1), height=height))
    total = sum((amount for _, amount in series), 0)
    return SalesChart(currency=currency, bars=bars, total=Money(total, currency),
                      best=Money(best, currency))
