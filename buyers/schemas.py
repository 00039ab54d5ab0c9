"""The storefront's boundary: the catalog query string, and the catalog API's JSON shapes.

One query-string schema serves the HTML pages and the API, so a shared link and an API call
mean the same thing. Its rules, the same everywhere:

- What can be read sensibly is normalised: ``per_page`` above the maximum is clamped (48 on
  pages, 100 in the API), ``page`` beyond ``MAX_PAGE`` is clamped, a reversed price range is
  swapped, ``q`` is cut to 200 characters with control characters dropped, empty parameters
  (an empty form field) are ignored, unknown parameters are ignored, and excess attribute
  filters are dropped.
- What can't be read is a 422 naming the field (like every list in the API, see
  ``marketplace.pagination``): ``page`` below 1, a non-number, an unknown sort, a rating
  outside 1-5, a negative price.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from marketplace.db import MAX_ID
from marketplace.search import Sort

MAX_QUERY_LENGTH = 200
HTML_MAX_PER_PAGE = 48
API_MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 24
# Nobody reads past result 48,000; deeper pages would make the engine rank the whole catalog.
MAX_PAGE = 1000
MAX_PRICE = Decimal(10) ** 9
MAX_ATTRIBUTE_FILTERS = 10
MAX_VALUES_PER_FILTER = 20
MAX_FILTER_TEXT = 100
MAX_VENDOR_FILTERS = 50
ATTRIBUTE_PREFIX = "attr."
LIST_PARAMETERS = frozenset({"vendor"})

# Control characters: PostgreSQL refuses NUL in text, and none of them mean anything here.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: str, limit: int) -> str:
    """``value`` without control characters, whitespace collapsed, at most ``limit`` long."""
    return " ".join(_CONTROL.sub(" ", value[: limit * 4]).split())[:limit].strip()


class CatalogQuerySchema(Schema):
    """``?q=&category=&vendor=&price_min=&price_max=&attr.<name>=&rating=&in_stock=&sort=
    &page=&per_page=`` of a category, search or vendor page, or of the catalog API.

    Loads a ``MultiDict`` (``request.args``) or a plain dict. Prices are in the buyer's
    currency, in major units (``price_max=25`` is €25.00 for a buyer shopping in EUR).
    """

    max_per_page = HTML_MAX_PER_PAGE

    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default="", metadata={
        "description": f"Words to search for (at most {MAX_QUERY_LENGTH} characters are used)."})
    category = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID),
                              metadata={
        "description": "A category id: products in it and all its sub-categories."})
    vendor = fields.List(fields.Integer(validate=validate.Range(min=1, max=MAX_ID)),
                         load_default=list,
                         metadata={"description": "Vendor ids (repeatable; any of them)."})
    price_min = fields.Decimal(load_default=None, allow_nan=False,
                               validate=validate.Range(min=0, max=MAX_PRICE), metadata={
                                   "description": "Lowest price, in the buyer's currency."})
    price_max = fields.Decimal(load_default=None, allow_nan=False,
                               validate=validate.Range(min=0, max=MAX_PRICE), metadata={
                                   "description": "Highest price, in the buyer's currency."})
    attr = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                       load_default=dict, metadata={
                           "description": "Attribute filters, sent as `attr.<name>=<value>` "
                                          "(repeatable: any value of one attribute, every "
                                          "attribute named)."})
    rating = fields.Integer(load_default=None, validate=validate.Range(min=1, max=5), metadata={
        "description": "Whole stars: products rated at least this on average."})
    in_stock = fields.Boolean(load_default=False,
                              metadata={"description": "Only products that can be bought now."})
    sort = fields.Enum(Sort, by_value=True, load_default=Sort.RELEVANCE,
                       metadata={"description": "Result order."})
    page = fields.Integer(load_default=1,
                          validate=validate.Range(min=1, error=_l("Must be 1 or more.")),
                          metadata={"description": "Page number, starting at 1."})
    per_page = fields.Integer(load_default=DEFAULT_PER_PAGE,
                              validate=validate.Range(min=1, error=_l("Must be 1 or more.")),
                              metadata={"description": "Products per page; larger values "
                                                       "are clamped to the maximum."})

    @pre_load
    def from_query_string(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        getlist = getattr(data, "getlist", None)
        if getlist is None:  # a plain dict: lists are lists already
            def getlist(key: str) -> list[Any]:
                value = data[key]
                return list(value) if isinstance(value, list | tuple) else [value]
        loaded: dict[str, Any] = {}
        attributes: dict[str, list[str]] = {}
        for key in data:
            values = [v for v in getlist(key) if not (isinstance(v, str) and not v.strip())]
            if not values:
                continue
            if isinstance(key, str) and key.startswith(ATTRIBUTE_PREFIX):
                name = clean_text(key[len(ATTRIBUTE_PREFIX):], MAX_FILTER_TEXT)
                kept = [clean_text(str(v), MAX_FILTER_TEXT) for v in values
                        if len(str(v)) <= MAX_FILTER_TEXT]
                kept = list(dict.fromkeys(v for v in kept if v))[:MAX_VALUES_PER_FILTER]
                if name and kept and len(attributes) < MAX_ATTRIBUTE_FILTERS:
                    attributes[name] = kept
            elif key in LIST_PARAMETERS:
                loaded[key] = values[:MAX_VENDOR_FILTERS]
            elif key == "attr":
                continue  # only the attr.<name> spelling; a bare `attr` is unknown
            else:
                loaded[key] = values[0]
        if isinstance(loaded.get("q"), str):
            loaded["q"] = clean_text(loaded["q"], MAX_QUERY_LENGTH)
        if attributes:
            loaded["attr"] = attributes
        return loaded

    @post_load
    def normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["per_page"] = min(data["per_page"], self.max_per_page)
        data["page"] = min(data["page"], MAX_PAGE)
        low, high = data["price_min"], data["price_max"]
        if low is not None and high is not None and low > high:
            data["price_min"], data["price_max"] = high, low
        data["vendor"] = sorted(set(data["vendor"]))
        # One spelling per filter set: shared links and cache keys don't depend on order.
        data["attr"] = {name: sorted(values) for name, values in sorted(data["attr"].items())}
        return data


class CurrencyQuerySchema(Schema):
    """``?currency=``: the API's stand-in for the buyer's chosen currency (the HTML pages
    use the one picked in the header)."""

    class Meta:
        unknown = EXCLUDE

    currency = fields.String(load_default=None, metadata={
        "description": "ISO 4217 code for price filters, price facets and approximate "
                       "prices; the marketplace's default currency when absent."})

    @post_load
    def check_currency(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        currencies = current_app.config["CURRENCIES"]
        code = str(data.get("currency") or current_app.config["DEFAULT_CURRENCY"]).upper()
        if code not in currencies:
            raise ValidationError(
                {"currency": [str(_l("Must be one of: %(codes)s.", codes=", ".join(currencies)))]}
            )
        data["currency"] = code
        return data


class CatalogApiQuerySchema(CatalogQuerySchema, CurrencyQuerySchema):
    """The API's version: up to 100 per page, plus ``currency``."""

    max_per_page = API_MAX_PER_PAGE


class SearchApiQuerySchema(CatalogApiQuerySchema):
    q = fields.String(required=True, metadata={
        "description": f"Words to search for (at most {MAX_QUERY_LENGTH} characters are used)."})


# --- Output ---------------------------------------------------------------------------------


class MoneySchema(Schema):
    amount_minor = fields.Integer(required=True,
                                 metadata={"description": "Integer minor units (cents)."})
    currency = fields.String(required=True, metadata={"description": "ISO 4217 code."})


class CategoryNodeSchema(Schema):
    """A category with its children, recursively."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    parent_id = fields.Integer(required=True, allow_none=True)
    children = fields.List(fields.Nested(lambda: CategoryNodeSchema()), required=True)


class CategoryTreeSchema(Schema):
    items = fields.List(fields.Nested(CategoryNodeSchema), required=True,
                        metadata={"description": "The root categories."})


class VendorRefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)


COMPARE_AT = ("The \"was\" price struck through beside the price, in the vendor's currency; "
              "null when there is none or it is not higher than the price.")
TEXT_LANGUAGE = ("In the language `Accept-Language` asks for where the vendor translated it, "
                 "else in the marketplace's default language.")


class ProductSummarySchema(Schema):
    """A product in a list: its lowest price in the vendor's currency and an approximate
    conversion into the requested currency (null when they are the same)."""

    id = fields.Integer(required=True)
    title = fields.String(required=True, metadata={"description": TEXT_LANGUAGE})
    slug = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The product's page."})
    vendor = fields.Nested(VendorRefSchema, required=True)
    price = fields.Nested(MoneySchema, required=True)
    price_varies = fields.Boolean(required=True,
                                  metadata={"description": "Variants differ in price."})
    approximate_price = fields.Nested(MoneySchema, required=True, allow_none=True)
    compare_at_price = fields.Nested(MoneySchema, required=True, allow_none=True, metadata={
        "description": "The cheapest variant's compare-at price. " + COMPARE_AT})
    approximate_compare_at_price = fields.Nested(MoneySchema, required=True, allow_none=True)
    in_stock = fields.Boolean(required=True)
    rating = fields.Float(required=True, allow_none=True,
                          metadata={"description": "Average stars, null when unrated."})
    rating_count = fields.Integer(required=True)
    highlight = fields.String(required=True, allow_none=True, metadata={
        "description": "Search only: the title as HTML, matched words in <mark>."})


class FacetValueSchema(Schema):
    value = fields.String(required=True, metadata={
        "description": "What to send back as the filter (an id, a value, whole stars)."})
    label = fields.String(required=True)
    count = fields.Integer(required=True)
    selected = fields.Boolean(required=True)
    price_min = fields.Decimal(as_string=True, allow_none=True, metadata={
        "description": "Price facet only: the bucket's `price_min` (requested currency)."})
    price_max = fields.Decimal(as_string=True, allow_none=True, metadata={
        "description": "Price facet only: the bucket's `price_max` (requested currency)."})


class FacetSchema(Schema):
    key = fields.String(required=True, metadata={
        "description": "category, vendor, price, rating, in_stock or attr:<name>."})
    parameter = fields.String(required=True,
                              metadata={"description": "The query parameter it filters by."})
    label = fields.String(required=True)
    values = fields.List(fields.Nested(FacetValueSchema), required=True)


class ListingMetaSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    currency = fields.String(required=True)


class ListingLinksSchema(Schema):
    self_ = fields.String(required=True, data_key="self")
    next = fields.String(required=True, allow_none=True)
    prev = fields.String(required=True, allow_none=True)


class ProductListSchema(Schema):
    items = fields.List(fields.Nested(ProductSummarySchema), required=True)
    facets = fields.List(fields.Nested(FacetSchema), required=True)
    meta = fields.Nested(ListingMetaSchema, required=True)
    links = fields.Nested(ListingLinksSchema, required=True)


class SearchResultSchema(ProductListSchema):
    query = fields.String(required=True, metadata={"description": "The text searched for."})
    corrected_text = fields.String(required=True, allow_none=True, metadata={
        "description": "The text searched instead, when the original found nothing."})
    suggestion = fields.String(required=True, allow_none=True, metadata={
        "description": "A likelier spelling to offer (\"did you mean\")."})


class VariantSchema(Schema):
    id = fields.Integer(required=True)
    sku = fields.String(required=True)
    attributes = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    price = fields.Nested(MoneySchema, required=True)
    approximate_price = fields.Nested(MoneySchema, required=True, allow_none=True)
    compare_at_price = fields.Nested(MoneySchema, required=True, allow_none=True,
                                     metadata={"description": COMPARE_AT})
    approximate_compare_at_price = fields.Nested(MoneySchema, required=True, allow_none=True)
    available = fields.Integer(required=True, metadata={"description": "Units that can be "
                                                        "bought now."})
    in_stock = fields.Boolean(required=True)


class VendorCardSchema(VendorRefSchema):
    country = fields.String(required=True)
    ships_from = fields.List(fields.String(), required=True,
                             metadata={"description": "ISO 3166 country codes."})
    rating = fields.Float(required=True, allow_none=True)
    rating_count = fields.Integer(required=True)
    url = fields.String(required=True, metadata={"description": "The vendor's storefront."})


class BreadcrumbSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)


class ProductDetailSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True, metadata={"description": TEXT_LANGUAGE})
    title_locale = fields.String(required=True,
                                 metadata={"description": "The language `title` is in."})
    slug = fields.String(required=True)
    url = fields.String(required=True)
    description = fields.String(required=True, metadata={"description": TEXT_LANGUAGE})
    description_locale = fields.String(required=True, metadata={
        "description": "The language `description` is in."})
    categories = fields.List(fields.Nested(BreadcrumbSchema), required=True,
                             metadata={"description": "Root to leaf."})
    vendor = fields.Nested(VendorCardSchema, required=True)
    price = fields.Nested(MoneySchema, required=True,
                          metadata={"description": "The lowest variant price."})
    approximate_price = fields.Nested(MoneySchema, required=True, allow_none=True)
    in_stock = fields.Boolean(required=True)
    rating = fields.Float(required=True, allow_none=True)
    rating_count = fields.Integer(required=True)
    options = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                          required=True, metadata={
                              "description": "Attribute name -> values, for a variant picker."})
    variants = fields.List(fields.Nested(VariantSchema), required=True)
