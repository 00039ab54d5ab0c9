"""What an order costs: every amount computed on the server from the database.

Input is only what the buyer may choose: which variants and how many (their cart), the
destination country and one shipping method per vendor. Prices come from the variants,
shipping from the vendors' methods (``vendors.shipping.quote_options``), tax from
``marketplace.tax``, exchange rates from the rates table; whatever a client says about
prices, currencies or totals is never read.

Rules
-----
- Currency: every vendor price is converted to the buyer's currency per unit (half up, to the
  currency's exponent), then multiplied by the quantity, so unit price x quantity is exactly
  the line as shown. The rates used are snapshotted (``Quote.rates_used``).
- Tax by destination: where prices are shown tax-inclusive (``TaxRule.inclusive``), a line's
  gross is the converted price and its tax is extracted (``gross * r / (1 + r)``, half up);
  elsewhere the line's net is the converted price and tax is added on top (``net * r``, half
  up). Shipping is taxed at the same rate the same way. Per line, net + tax = total.
- A vendor part's ``items`` and ``shipping`` are as charged (gross where inclusive, net where
  added on top); ``tax`` is the tax inside them or added to them; ``total`` is what the buyer
  pays for the part. The order's figures are the sums of its parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from buyers.cart import CartView
from marketplace.fx import MissingRate, convert
from marketplace.money import Money
from marketplace.tax import TaxRule, rule_for
from vendors.shipping import ShippingOption, quote_options

BP = 10_000


class PricingError(Exception):
    """The order can't be priced as asked; ``message`` is safe to show, ``field`` names the
    input at fault (``shipping.<vendor_id>``, ``country``)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _half_up(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if remainder * 2 >= denominator else 0)


def split_tax(amount: int, rule: TaxRule) -> tuple[int, int]:
    """(net, tax) of ``amount`` minor units under ``rule`` (amount is gross if inclusive)."""
    if rule.rate_bp == 0:
        return amount, 0
    if rule.inclusive:
        tax = _half_up(amount * rule.rate_bp, BP + rule.rate_bp)
        return amount - tax, tax
    return amount, _half_up(amount * rule.rate_bp, BP)


@dataclass(frozen=True)
class PricedLine:
    variant_id: int
    vendor_id: int
    product_id: int
    title: str
    sku: str
    attributes: dict
    quantity: int
    vendor_unit_price: Money
    unit_price: Money
    net_minor: int
    tax_minor: int
    total_minor: int
    tax_rate_bp: int


@dataclass
class PricedPart:
    vendor_id: int
    vendor_name: str
    lines: list[PricedLine]
    options: list[ShippingOption]
    method: ShippingOption
    # In the order's currency.
    items: Money
    shipping: Money
    tax: Money
    total: Money

    @property
    def shipping_method(self) -> dict:
        return {"method_id": self.method.method_id, "name": self.method.name,
                "handling_days": self.method.handling_days,
                "price_minor": self.method.price.amount_minor,
                "currency": self.method.price.currency}


@dataclass
class Quote:
    currency: str
    country: str
    tax: TaxRule
    parts: list[PricedPart]
    items: Money
    shipping: Money
    tax_total: Money
    total: Money
    rates_used: dict[str, int] = field(default_factory=dict)


def shipping_options(cart: CartView, country: str,
                     rates: dict[str, int]) -> dict[int, list[ShippingOption]]:
    """Every vendor group's shipping options to ``country``, cheapest first."""
    options = {}
    for group in cart.groups:
        items = {}
        weight = 0
        for line in group.lines:
            price = line.vendor_price * line.quantity
            items[price.currency] = items.get(price.currency, 0) + price.amount_minor
            weight += line.weight_grams * line.quantity
        currency, amount = max(items.items(), key=lambda kv: kv[1])
        try:
            options[group.vendor_id] = quote_options(group.vendor_id, country, weight, amount,
                                                     currency, rates=rates)
        except MissingRate:
            options[group.vendor_id] = []
    return options


def price_order(cart: CartView, country: str, choices: dict[int, int],
                rates: dict[str, int]) -> Quote:
    """Price the checked cart for delivery to ``country`` with the shipping method
    ``choices[vendor_id]`` of each vendor (the cheapest when a vendor has no choice yet).

    Raises PricingError when a vendor doesn't ship to the country, a chosen method isn't one
    of the vendor's options there, or an exchange rate is missing.
    """
    currency = cart.currency
    rule = rule_for(country)
    used = {currency}
    available = shipping_options(cart, country, rates)
    parts = []
    for group in cart.groups:
        options = available[group.vendor_id]
        if not options:
            raise PricingError(_("%(shop)s doesn't ship to this country.",
                                 shop=group.vendor_name), field=f"shipping.{group.vendor_id}")
        chosen = choices.get(group.vendor_id)
        method = options[0] if chosen is None else next(
            (o for o in options if o.method_id == chosen), None)
        if method is None:
            raise PricingError(_("Choose one of %(shop)s's shipping methods.",
                                 shop=group.vendor_name), field=f"shipping.{group.vendor_id}")
        lines = []
        for line in group.lines:
            try:
                unit = convert(line.vendor_price, currency, rates)
            except MissingRate:
                raise PricingError(_("Prices can't be converted to %(currency)s right now.",
                                     currency=currency)) from None
            used.add(line.vendor_price.currency)
            amount = unit.amount_minor * line.quantity
            net, tax = split_tax(amount, rule)
            lines.append(PricedLine(
                variant_id=line.variant_id, vendor_id=line.vendor_id,
                product_id=line.product_id, title=line.title, sku=line.sku,
                attributes=line.attributes, quantity=line.quantity,
                vendor_unit_price=line.vendor_price, unit_price=unit, net_minor=net,
                tax_minor=tax, total_minor=net + tax, tax_rate_bp=rule.rate_bp,
            ))
        try:
            shipping_amount = convert(method.price, currency, rates).amount_minor
        except MissingRate:
            raise PricingError(_("Prices can't be converted to %(currency)s right now.",
                                 currency=currency)) from None
        used.add(method.price.currency)
        shipping_tax = split_tax(shipping_amount, rule)[1]
        # As charged: gross where tax is included, net where it is added on top.
        items = sum(line.net_minor + (line.tax_minor if rule.inclusive else 0)
                    for line in lines)
        tax = sum(line.tax_minor for line in lines) + shipping_tax
        total = items + shipping_amount + (0 if rule.inclusive else tax)
        parts.append(PricedPart(
            vendor_id=group.vendor_id, vendor_name=group.vendor_name, lines=lines,
            options=options, method=method, items=Money(items, currency),
            shipping=Money(shipping_amount, currency), tax=Money(tax, currency),
            total=Money(total, currency),
        ))
    zero = Money.zero(currency)
    return Quote(
        currency=currency, country=country.upper(), tax=rule, parts=parts,
        items=sum((p.items for p in parts), zero), shipping=sum((p.shipping for p in parts), zero),
        tax_total=sum((p.tax for p in parts), zero), total=sum((p.total for p in parts), zero),
        rates_used={code: rates[code] for code in sorted(used) if code in rates},
    )
