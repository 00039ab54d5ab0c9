"""The product page's variant picker: which variant is shown, which choices are possible.

One select per attribute (colour, size...). A value is disabled when no variant in stock has
it together with the values chosen on the other selects, which is also what the page's small
script recomputes as the buyer changes a select. Without JavaScript the picker is a GET form
(``?attr.size=M&attr.colour=Black``) and every variant is also listed with a link
(``?variant=<id>``), so any combination stays reachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from buyers.catalog import ProductDetail, VariantView
from buyers.prices import approximate
from buyers.schemas import ATTRIBUTE_PREFIX
from marketplace.money import Money

# At or below this many units a variant shows "only N left".
LOW_STOCK = 3


@dataclass(frozen=True)
class AxisOption:
    value: str
    selected: bool
    disabled: bool


@dataclass(frozen=True)
class Axis:
    name: str
    options: list[AxisOption]


@dataclass(frozen=True)
class ProductView:
    selected: VariantView | None
    axes: list[Axis]
    approximate_price: Money | None
    # The selected variant's compare-at ("was") price when higher than its price, and that
    # in the buyer's currency.
    compare_at: Money | None
    approximate_compare_at: Money | None
    # The selected variant's stock_state: "in", "low" or "out".
    state: str
    # What the script needs, one entry per variant (rendered with |tojson).
    variant_data: list[dict]


def _choose(detail: ProductDetail, args: Mapping[str, str]) -> VariantView | None:
    if not detail.variants:
        return None
    wanted_id = args.get("variant", "")
    if wanted_id.isdecimal():
        for variant in detail.variants:
            if variant.id == int(wanted_id):
                return variant
    wanted = {name: args.get(ATTRIBUTE_PREFIX + name) for name, _ in detail.axes}
    wanted = {name: value for name, value in wanted.items() if value}
    if wanted:
        matching = [v for v in detail.variants
                    if all(v.attributes.get(k) == val for k, val in wanted.items())]
        if matching:
            return next((v for v in matching if v.in_stock), matching[0])
    return next((v for v in detail.variants if v.in_stock), detail.variants[0])


def _possible(detail: ProductDetail, axis: str, value: str, others: Mapping[str, str]) -> bool:
    return any(
        v.in_stock and v.attributes.get(axis) == value
        and all(v.attributes.get(k) == val for k, val in others.items() if k != axis)
        for v in detail.variants
    )


def stock_state(variant: VariantView | None) -> str:
    """"in", "low" or "out"."""
    if variant is None or not variant.in_stock:
        return "out"
    return "low" if variant.available <= LOW_STOCK else "in"


def _formatted(price: Money | None, locale: str) -> str | None:
    return price.format(locale) if price is not None else None


def product_view(detail: ProductDetail, args: Mapping[str, str], *, currency: str,
                 rates: Mapping[str, int], locale: str) -> ProductView:
    """The picker's state for the variant ``args`` ask for (else the first one in stock),
    with prices formatted in ``locale`` and approximated in the buyer's ``currency``."""
    selected = _choose(detail, args)
    chosen = dict(selected.attributes) if selected else {}
    axes = [
        Axis(name, [AxisOption(value, chosen.get(name) == value,
                               not _possible(detail, name, value, chosen))
                    for value in values])
        for name, values in detail.axes
    ]
    data = [
        {
            "id": v.id,
            "sku": v.sku,
            "attributes": v.attributes,
            "available": v.available,
            "in_stock": v.in_stock,
            "state": stock_state(v),
            "price": v.price.format(locale),
            "approximate": _formatted(approximate(v.price, currency, rates), locale),
            "compare_at": _formatted(v.compare_at, locale),
            "approximate_compare_at": _formatted(
                approximate(v.compare_at, currency, rates) if v.compare_at else None, locale),
        }
        for v in detail.variants
    ]
    price = selected.price if selected else None
    compare_at = selected.compare_at if selected else None
    return ProductView(
        selected=selected,
        axes=axes,
        approximate_price=approximate(price, currency, rates) if price else None,
        compare_at=compare_at,
        approximate_compare_at=approximate(compare_at, currency, rates) if compare_at else None,
        state=stock_state(selected),
        variant_data=data,
    )
