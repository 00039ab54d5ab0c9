"""What goes into the search index and what a search asks and answers: plain values only.

The facade (``marketplace.search``) and every backend speak these types, so the storefront
never learns which engine answered. Prices are compared in the base currency
(``marketplace.fx.BASE_CURRENCY``) so vendors' currencies mix fairly; the storefront converts
to and from the buyer's currency around the search.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Sort(enum.StrEnum):
    RELEVANCE = "relevance"   # text score; with no text: in stock first, then newest
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"
    RATING = "rating"         # average rating, then rating count


# The facet keys a SearchResult may carry. Attribute facets are "attr:<name>", e.g. "attr:colour".
FACET_CATEGORY = "category"
FACET_VENDOR = "vendor"
FACET_PRICE = "price"
FACET_RATING = "rating"
FACET_IN_STOCK = "in_stock"
ATTRIBUTE_FACET_PREFIX = "attr:"


@dataclass(frozen=True)
class ProductDocument:
    """One visible product as the index holds it (only approved products of approved vendors
    are indexed; anything else is removed from the index)."""

    product_id: int
    vendor_id: int
    vendor_name: str
    # Root-to-leaf category ids; the last one is the product's own category.
    category_path: tuple[int, ...]
    category_names: tuple[str, ...]
    # locale -> (title, description as plain text); always holds ``default_locale``.
    texts: Mapping[str, tuple[str, str]]
    default_locale: str
    # attribute name -> every value its variants have, e.g. {"colour": ("oak", "walnut")}
    attributes: Mapping[str, tuple[str, ...]]
    # The lowest variant price, in the vendor's currency and in the base currency.
    price_minor: int
    currency: str
    price_base_minor: int
    in_stock: bool
    # Average rating in hundredths of a star (0 when there are no ratings) and how many.
    rating_x100: int
    rating_count: int
    created_at: dt.datetime


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    locale: str = "en"
    # The category and all its descendants.
    category_id: int | None = None
    vendor_ids: tuple[int, ...] = ()
    # Inclusive bounds in base-currency minor units.
    price_min_base: int | None = None
    price_max_base: int | None = None
    # OR within one attribute, AND across attributes.
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Whole stars: products rated at least this on average.
    min_rating: int | None = None
    in_stock_only: bool = False
    sort: Sort = Sort.RELEVANCE
    page: int = 1
    per_page: int = 24
    # Upper bounds (base-currency minor units) of the price facet's buckets, ascending; the
    # last bucket is open-ended ("over the last bound").
    price_buckets: tuple[int, ...] = ()
    with_facets: bool = True


@dataclass(frozen=True)
class FacetValue:
    # Category and vendor facets use ids as strings; price facets the bucket index ("0", "1",
    # ...); rating facets the whole stars ("4" = 4 and up); in_stock "true".
    value: str
    count: int
    label: str = ""


@dataclass
class SearchResult:
    product_ids: list[int]
    total: int
    page: int
    per_page: int
    # Facet key -> values with counts (> 0 only). A facet's counts ignore that facet's own
    # selection, so choosing one vendor still shows how many the other vendors have.
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    # The text searched instead when the original had no hits ("showing results for").
    corrected_text: str | None = None
    # A better query to offer when there were hits but a likelier spelling exists.
    suggestion: str | None = None
    # product id -> the title with matched words wrapped in <mark>, HTML-escaped otherwise.
    highlights: dict[int, str] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page)) if self.per_page else 1
