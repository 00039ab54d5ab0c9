"""Listings: a loaded query string becomes a ``SearchQuery``, and the ``SearchResult`` becomes
what a category, search or vendor page (or the catalog API) shows: product cards, facets with
counts and the links that narrow or widen them, the active filters, and paging.

Prices are filtered and shown in the buyer's currency around a search in the base currency:
see ``buyers.prices``.

A listing's data (the search result, its cards and its vendor names) is cached in Redis under
the query and the catalog generation (``marketplace.cache``), so a popular page costs one
Redis read until the index next changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from buyers.catalog import CategoryNode, CategoryTree, ProductCard, cards_for
from buyers.prices import (
    approximate,
    format_whole,
    plain,
    price_bounds,
    to_base_minor,
)
from buyers.schemas import ATTRIBUTE_PREFIX, DEFAULT_PER_PAGE
from marketplace import search
from marketplace.cache import cached
from marketplace.extensions import db
from marketplace.money import Money
from marketplace.search import SearchQuery, SearchResult, Sort
from marketplace.search.types import (
    ATTRIBUTE_FACET_PREFIX,
    FACET_CATEGORY,
    FACET_IN_STOCK,
    FACET_PRICE,
    FACET_RATING,
    FACET_VENDOR,
    FacetValue,
)
from vendors.models import Vendor

FACET_VALUES_SHOWN = 12

SORT_LABELS = {
    Sort.RELEVANCE: _l("Relevance"),
    Sort.PRICE_ASC: _l("Price: low to high"),
    Sort.PRICE_DESC: _l("Price: high to low"),
    Sort.NEWEST: _l("Newest"),
    Sort.RATING: _l("Top rated"),
}
# Names of the attributes vendors commonly use; any other shows as the vendor wrote it.
ATTRIBUTE_LABELS = {
    "colour": _l("Colour"),
    "color": _l("Colour"),
    "size": _l("Size"),
    "format": _l("Format"),
    "volume": _l("Volume"),
    "layout": _l("Layout"),
    "material": _l("Material"),
}


@dataclass(frozen=True)
class Scope:
    """Where a listing lives: a category page, a vendor's storefront, or the whole catalog."""

    category: CategoryNode | None = None
    vendor_id: int | None = None


# --- From the query string to a SearchQuery -------------------------------------------------


def build_query(args: Mapping[str, Any], scope: Scope, *, locale: str, currency: str,
                rates: Mapping[str, int]) -> SearchQuery:
    """The search a page asks for. ``args`` is ``CatalogQuerySchema``'s output; the scope
    (the page's category or vendor) wins over the same filter in the query string."""
    category_id = scope.category.id if scope.category else args["category"]
    vendor_ids = (scope.vendor_id,) if scope.vendor_id else tuple(args["vendor"])
    low, high = args["price_min"], args["price_max"]
    return SearchQuery(
        text=args["q"],
        locale=locale,
        category_id=category_id,
        vendor_ids=vendor_ids,
        price_min_base=to_base_minor(low, currency, rates) if low is not None else None,
        price_max_base=to_base_minor(high, currency, rates) if high is not None else None,
        attributes={name: tuple(values) for name, values in sorted(args["attr"].items())},
        min_rating=args["rating"],
        in_stock_only=args["in_stock"],
        sort=args["sort"],
        page=args["page"],
        per_page=args["per_page"],
        price_buckets=tuple(to_base_minor(b, currency, rates)
                            for b in price_bounds(currency, rates)),
    )


# --- Running it (cached) --------------------------------------------------------------------


@dataclass(frozen=True)
class ListingData:
    """What one search yields, as cached: the result, its cards, the names of its vendors."""

    result: SearchResult
    cards: list[ProductCard]
    vendor_names: dict[int, str]


def query_key(query: SearchQuery) -> str:
    """A stable digest of everything that shapes the answer."""
    fields = dataclasses.asdict(query)
    fields["attributes"] = sorted((k, list(v)) for k, v in query.attributes.items())
    raw = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _vendor_names(ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(
        select(Vendor.id, Vendor.name).where(Vendor.id.in_(sorted(set(ids))))
    ).all())


def _run(query: SearchQuery) -> ListingData:
    result = search.search(query)
    # The index knows the names of the vendors it counts; only a chosen vendor that has no
    # products here any more needs the database.
    names = {int(v.value): v.label for v in result.facets.get(FACET_VENDOR, ())
             if v.value.isdigit() and v.label}
    missing = [vid for vid in query.vendor_ids if vid not in names]
    return ListingData(result=result, cards=cards_for(result.product_ids, query.locale),
                       vendor_names={**_vendor_names(missing), **names})


def fetch_listing(query: SearchQuery, *, use_cache: bool = True) -> ListingData:
    """Search, then load the cards of the products found (one query); cached per query and
    catalog generation unless ``use_cache`` is off (the caller caches the whole page)."""
    if not use_cache:
        return _run(query)
    return cached("listing", query_key(query), lambda: _run(query))


# --- Links that keep the filters ------------------------------------------------------------


class LinkBuilder:
    """Query-string links from a listing's canonical arguments (what the schema kept, not
    the raw URL: garbage the schema dropped doesn't travel on)."""

    def __init__(self, base_path: str, args: Mapping[str, Any], scope: Scope):
        self.base_path = base_path
        pairs: list[tuple[str, str]] = []
        if args["q"]:
            pairs.append(("q", args["q"]))
        if args["category"] and scope.category is None:
            pairs.append(("category", str(args["category"])))
        if scope.vendor_id is None:
            pairs += [("vendor", str(v)) for v in args["vendor"]]
        for key in ("price_min", "price_max"):
            if args[key] is not None:
                pairs.append((key, plain(args[key])))
        for name, values in sorted(args["attr"].items()):
            pairs += [(ATTRIBUTE_PREFIX + name, value) for value in values]
        if args["rating"]:
            pairs.append(("rating", str(args["rating"])))
        if args["in_stock"]:
            pairs.append(("in_stock", "1"))
        if args["sort"] != Sort.RELEVANCE:
            pairs.append(("sort", args["sort"].value))
        if args["per_page"] != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(args["per_page"])))
        if args.get("currency"):  # the API's; pages use the buyer's chosen currency
            pairs.append(("currency", args["currency"]))
        self.pairs = pairs
        self._encoded: list[str] | None = None

    def url(self, *, drop: Sequence[str] = (), add: Sequence[tuple[str, str]] = (),
            remove: tuple[str, str] | None = None, page: int | None = None,
            base_path: str | None = None) -> str:
        """The listing's URL with ``drop`` keys removed, one ``remove`` pair taken out,
        ``add`` pairs added and, when given, a page number. Changing a filter always goes
        back to page 1 (the page number is dropped unless given)."""
        # A listing builds dozens of these links; each pair is encoded once, not per link.
        if self._encoded is None:
            self._encoded = [urlencode([pair]) for pair in self.pairs]
        parts = [encoded for pair, encoded in zip(self.pairs, self._encoded, strict=True)
                 if pair[0] not in drop and pair != remove]
        if add:
            parts.append(urlencode(list(add)))
        if page is not None and page != 1:
            parts.append(f"page={int(page)}")
        path = base_path or self.base_path
        return f"{path}?{'&'.join(parts)}" if parts else path

    def clear_url(self) -> str:
        """The listing without any filter (the search words, sort and page size stay)."""
        kept = {"q", "sort", "per_page", "currency"}
        return self.url(drop=[pair[0] for pair in self.pairs if pair[0] not in kept])

    def hidden_fields(self, *, drop: Sequence[str] = ()) -> list[tuple[str, str]]:
        """The pairs a GET form must carry so submitting it keeps the other filters."""
        return [p for p in self.pairs if p[0] not in drop]


# --- Facets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacetOption:
    value: str
    label: str
    count: int
    selected: bool
    href: str
    price_min: Decimal | None = None
    price_max: Decimal | None = None


@dataclass(frozen=True)
class Facet:
    key: str
    # The query parameter the facet sets, "" for sub-categories on a category page (links).
    parameter: str
    label: str
    values: list[FacetOption]


@dataclass(frozen=True)
class ActiveFilter:
    label: str
    remove_href: str


def _top(values: list[FacetValue], selected: set[str]) -> list[FacetValue]:
    """The most frequent values (then by label), keeping every selected one."""
    ranked = sorted(values, key=lambda v: (-v.count, v.label.lower(), v.value))
    shown = ranked[:FACET_VALUES_SHOWN]
    shown += [v for v in ranked[FACET_VALUES_SHOWN:] if v.value in selected]
    return shown


def _rating_label(stars: int) -> str:
    return ngettext("%(num)d star & up", "%(num)d stars & up", stars)


def _price_label(low: Decimal | None, high: Decimal | None, currency: str, locale: str) -> str:
    if low is None and high is not None:
        return _("Under %(price)s", price=format_whole(high, currency, locale))
    if high is None and low is not None:
        return _("%(price)s & above", price=format_whole(low, currency, locale))
    return _("%(low)s – %(high)s", low=format_whole(low or Decimal(0), currency, locale),
             high=format_whole(high or Decimal(0), currency, locale))


def attribute_label(name: str) -> str:
    label = ATTRIBUTE_LABELS.get(name.lower())
    return str(label) if label is not None else name.replace("_", " ").capitalize()


@dataclass
class Listing:
    """Everything a listing page or the catalog API shows."""

    args: Mapping[str, Any]
    query: SearchQuery
    result: SearchResult
    cards: list[ProductCard]
    facets: list[Facet]
    active_filters: list[ActiveFilter]
    links: LinkBuilder
    currency: str
    sub_categories: list[FacetOption] = field(default_factory=list)
    # Card id -> its price in the buyer's currency, for cards priced in another one.
    approximations: dict[int, Money] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.result.total

    @property
    def page(self) -> int:
        return self.result.page or self.query.page

    @property
    def per_page(self) -> int:
        return self.result.per_page or self.query.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page)) if self.per_page else 1

    @property
    def past_the_end(self) -> bool:
        return not self.cards and self.total > 0 and self.page > self.pages

    def page_url(self, number: int) -> str:
        return self.links.url(page=number)

    def page_numbers(self) -> list[int | None]:
        """Page numbers around the current one, first and last always; None is a gap."""
        last, here = self.pages, min(self.page, self.pages)
        wanted = sorted({1, last, *range(max(1, here - 2), min(last, here + 2) + 1)})
        numbers: list[int | None] = []
        for number in wanted:
            if numbers and number - (numbers[-1] or 0) > 1:
                numbers.append(None)
            numbers.append(number)
        return numbers

    @property
    def highlights(self) -> dict[int, str]:
        return self.result.highlights

    @property
    def has_filters(self) -> bool:
        return bool(self.active_filters)


def build_listing(args: Mapping[str, Any], scope: Scope, *, tree: CategoryTree, locale: str,
                  currency: str, rates: Mapping[str, int], base_path: str,
                  category_url: Callable[[str], str] | None = None,
                  use_cache: bool = True) -> Listing:
    """Run the listing ``args`` ask for within ``scope`` and shape it for a page.

    ``base_path`` is the listing's own URL path; ``category_url`` (slug -> path) makes
    sub-category options links to category pages instead of a ``category`` filter.
    """
    query = build_query(args, scope, locale=locale, currency=currency, rates=rates)
    data = fetch_listing(query, use_cache=use_cache)
    links = LinkBuilder(base_path, args, scope)
    shaped = _Facets(args, data.result, links, data.vendor_names, currency, locale, rates)
    current = scope.category or (tree.by_id.get(args["category"]) if args["category"] else None)
    sub_categories = shaped.categories(current, tree, category_url,
                                       filtered=scope.category is None)
    if scope.vendor_id is None:
        shaped.vendors()
    shaped.prices()
    shaped.attributes()
    shaped.ratings()
    shaped.stock()
    approximations = {card.id: approx for card in data.cards
                      if (approx := approximate(card.lowest_price, currency, rates))}
    return Listing(args=args, query=query, result=data.result, cards=data.cards,
                   facets=shaped.facets, active_filters=shaped.active, links=links,
                   currency=currency, sub_categories=sub_categories,
                   approximations=approximations)


@dataclass
class _Facets:
    """A listing's facets and active filters, built one facet per method, in page order."""

    args: Mapping[str, Any]
    result: SearchResult
    links: LinkBuilder
    vendor_names: Mapping[int, str]
    currency: str
    locale: str
    rates: Mapping[str, int]
    facets: list[Facet] = field(default_factory=list)
    active: list[ActiveFilter] = field(default_factory=list)

    def _counts(self, key: str) -> dict[str, int]:
        return {v.value: v.count for v in self.result.facets.get(key, ())}

    def categories(self, current: CategoryNode | None, tree: CategoryTree,
                   category_url: Callable[[str], str] | None,
                   filtered: bool) -> list[FacetOption]:
        """The children of the current category (roots when there is none) that have
        products; links to their pages, or ``category`` filters on search."""
        counts = self._counts(FACET_CATEGORY)
        children = current.children if current else tree.roots
        options = [
            FacetOption(
                value=str(child.id), label=child.name, count=counts[str(child.id)],
                selected=False,
                href=(self.links.url(base_path=category_url(child.slug)) if category_url else
                      self.links.url(drop=("category",), add=[("category", str(child.id))])),
            )
            for child in children if counts.get(str(child.id), 0) > 0
        ]
        if options:
            self.facets.append(Facet(FACET_CATEGORY, "" if category_url else "category",
                                     str(_("Category")), options))
        if current is not None and filtered:
            self.active.append(ActiveFilter(_("Category: %(name)s", name=current.name),
                                            self.links.url(drop=("category",))))
        return options

    def vendors(self) -> None:
        chosen = {str(v) for v in self.args["vendor"]}
        values = [v for v in self.result.facets.get(FACET_VENDOR, ()) if v.value.isdigit()]
        present = {v.value for v in values}

        def name(value: str, fallback: str) -> str:
            return self.vendor_names.get(int(value), fallback)

        # Links only for the values shown: a big category has hundreds of vendors.
        options = [FacetOption(v.value, name(v.value, v.label or v.value), v.count,
                               v.value in chosen, _toggle(self.links, "vendor", v.value, chosen))
                   for v in _top(values, chosen)]
        options += [FacetOption(value, name(value, value), 0, True,
                                _toggle(self.links, "vendor", value, chosen))
                    for value in sorted(chosen - present)]
        if options:
            self.facets.append(Facet(FACET_VENDOR, "vendor", str(_("Vendor")), options))
        self.active += [ActiveFilter(_("Vendor: %(name)s", name=o.label), o.href)
                        for o in options if o.selected]

    def prices(self) -> None:
        """Buckets of round amounts in the buyer's currency; choosing one sets both bounds."""
        low_arg, high_arg = self.args["price_min"], self.args["price_max"]
        bounds = price_bounds(self.currency, self.rates)
        counts = self._counts(FACET_PRICE)
        options = []
        for index in range(len(bounds) + 1):
            low = bounds[index - 1] if index > 0 else None
            high = bounds[index] if index < len(bounds) else None
            count = counts.get(str(index), 0)
            selected = low_arg == low and high_arg == high
            if not (count or selected):
                continue
            add = [(key, plain(bound)) for key, bound in (("price_min", low), ("price_max", high))
                   if bound is not None and not selected]
            options.append(FacetOption(
                str(index), _price_label(low, high, self.currency, self.locale), count, selected,
                self.links.url(drop=("price_min", "price_max"), add=add),
                price_min=low, price_max=high))
        if options:
            self.facets.append(Facet(FACET_PRICE, "price", str(_("Price")), options))
        if low_arg is not None or high_arg is not None:
            self.active.append(ActiveFilter(
                _price_label(low_arg, high_arg, self.currency, self.locale),
                self.links.url(drop=("price_min", "price_max"))))

    def attributes(self) -> None:
        keys = sorted(k for k in self.result.facets if k.startswith(ATTRIBUTE_FACET_PREFIX))
        for key in keys:
            name = key[len(ATTRIBUTE_FACET_PREFIX):]
            parameter = ATTRIBUTE_PREFIX + name
            chosen = set(self.args["attr"].get(name, ()))
            values = list(self.result.facets[key])
            present = {v.value for v in values}
            options = [FacetOption(v.value, v.label or v.value, v.count, v.value in chosen,
                                   _toggle(self.links, parameter, v.value, chosen))
                       for v in _top(values, chosen)]
            options += [FacetOption(value, value, 0, True,
                                    _toggle(self.links, parameter, value, chosen))
                        for value in sorted(chosen - present)]
            self.facets.append(Facet(key, parameter, attribute_label(name), options))
        for name, values in sorted(self.args["attr"].items()):
            self.active += [
                ActiveFilter(_("%(name)s: %(value)s", name=attribute_label(name), value=value),
                             self.links.url(remove=(ATTRIBUTE_PREFIX + name, value)))
                for value in values
            ]

    def ratings(self) -> None:
        chosen = self.args["rating"]
        counts = self._counts(FACET_RATING)
        options = [
            FacetOption(str(stars), _rating_label(stars), counts.get(str(stars), 0),
                        chosen == stars,
                        self.links.url(drop=("rating",),
                                       add=[] if chosen == stars else [("rating", str(stars))]))
            for stars in (4, 3, 2, 1) if counts.get(str(stars), 0) or chosen == stars
        ]
        if options:
            self.facets.append(Facet(FACET_RATING, "rating", str(_("Rating")), options))
        if chosen:
            self.active.append(ActiveFilter(_rating_label(chosen),
                                            self.links.url(drop=("rating",))))

    def stock(self) -> None:
        chosen = self.args["in_stock"]
        count = self._counts(FACET_IN_STOCK).get("true", 0)
        if count or chosen:
            self.facets.append(Facet(FACET_IN_STOCK, "in_stock", str(_("Availability")), [
                FacetOption("true", str(_("In stock only")), count, chosen,
                            self.links.url(drop=("in_stock",),
                                           add=[] if chosen else [("in_stock", "1")])),
            ]))
        if chosen:
            self.active.append(ActiveFilter(_("In stock only"),
                                            self.links.url(drop=("in_stock",))))


def _toggle(links: LinkBuilder, parameter: str, value: str, chosen: set[str]) -> str:
    if value in chosen:
        return links.url(remove=(parameter, value))
    return links.url(add=[(parameter, value)])


def shorter_queries(text: str) -> list[str]:
    """Queries to offer when ``text`` found nothing: it without its last word, then its
    longest word on its own."""
    words = text.split()
    offers: list[str] = []
    if len(words) > 1:
        offers.append(" ".join(words[:-1]))
        longest = max(words, key=len)
        if longest not in offers:
            offers.append(longest)
    return offers
