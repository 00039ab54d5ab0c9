"""What the storefront reads from the catalog: the category tree, product cards, a product's
page and a vendor's storefront, each in a constant number of queries and cached by the
catalog generation (``marketplace.cache``).

Visibility is the search index's rule (``vendors.search.visible_products``): approved products
of approved vendors priced in the vendor's currency. Anything else is "not found" here, so a
suspended vendor's pages disappear with its listings.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from flask import current_app
from sqlalchemy import and_, func, select

from marketplace.cache import cached, memoized
from marketplace.extensions import db
from marketplace.fx import load_rates
from marketplace.models import Category
from marketplace.money import Money
from vendors.models import (
    Product,
    ProductStatus,
    ProductTranslation,
    StockLevel,
    StockLocation,
    Variant,
    Vendor,
    VendorStatus,
)
from vendors.rich_text import plain_text
from vendors.search import visible_products

# A meta description longer than this is cut at a word (search engines show about as much).
SUMMARY_LENGTH = 160

# --- The category tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    slug: str
    parent_id: int | None
    depth: int
    children: tuple[CategoryNode, ...] = ()


@dataclass(frozen=True)
class CategoryTree:
    roots: tuple[CategoryNode, ...]
    by_id: dict[int, CategoryNode] = field(repr=False)
    by_slug: dict[str, CategoryNode] = field(repr=False)

    def path(self, category_id: int) -> list[CategoryNode]:
        """Root-to-node list of nodes (the breadcrumbs); empty for an unknown id."""
        trail: list[CategoryNode] = []
        node = self.by_id.get(category_id)
        while node is not None and node not in trail:
            trail.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id is not None else None
        return trail[::-1]


def _load_tree() -> CategoryTree:
    rows = db.session.execute(
        select(Category.id, Category.name, Category.slug, Category.parent_id)
        .order_by(Category.position, Category.name, Category.id)
    ).all()
    children: dict[int | None, list] = defaultdict(list)
    for row in rows:
        children[row.parent_id].append(row)
    known = {row.id for row in rows}
    by_id: dict[int, CategoryNode] = {}

    def build(row, depth: int, seen: frozenset[int]) -> CategoryNode:
        kids = tuple(build(kid, depth + 1, seen | {row.id})
                     for kid in children.get(row.id, ()) if kid.id not in seen)
        node = CategoryNode(row.id, row.name, row.slug, row.parent_id, depth, kids)
        by_id[row.id] = node
        return node

    # Roots, and orphans whose parent is gone, start the tree.
    roots = tuple(build(row, 0, frozenset()) for row in rows
                  if row.parent_id is None or row.parent_id not in known)
    return CategoryTree(roots, by_id, {node.slug: node for node in by_id.values()})


def category_tree() -> CategoryTree:
    """The whole tree, from one query per catalog generation per process."""
    return memoized("category-tree", _load_tree)


def default_locale() -> str:
    """The locale of a product's own title and description (translations cover the rest)."""
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def shown_compare_at(price_minor: int, compare_at_minor: int | None,
                     currency: str) -> Money | None:
    """The "was" price to strike through beside ``price_minor``: only when it is higher
    (a vendor's stale compare-at price below a new price is no saving)."""
    if compare_at_minor is None or compare_at_minor <= price_minor:
        return None
    return Money(int(compare_at_minor), currency)


def current_rates() -> dict[str, int]:
    """Exchange rates, from one query per catalog generation per process. A rate change
    rebuilds the index (every base-currency price moves), which bumps the generation."""
    return memoized("exchange-rates", load_rates)


# --- Product cards --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductCard:
    id: int
    title: str
    slug: str
    featured: bool
    vendor_id: int
    vendor_name: str
    vendor_has_logo: bool
    lowest_price: Money
    # Whether variants differ in price, so the card says "from".
    price_varies: bool
    in_stock: bool
    rating_x100: int = 0
    rating_count: int = 0
    vendor_slug: str = ""
    # The cheapest variant's "was" price, when higher than its price (struck through).
    compare_at: Money | None = None
    # The title's language when it is not the page's: the default locale's title shown on a
    # page in a language the vendor has not translated it into ("" otherwise).
    lang: str = ""


@functools.cache
def card_select():
    """The columns of a card, over visible products; callers add WHERE, ORDER BY, LIMIT.

    Prices and stock are correlated subqueries, so the database computes them only for the
    rows that survive the caller's filter and LIMIT. Built once: constructing it costs more
    than running it for a page of cards. Titles are the default locale's
    (:func:`in_locale` translates a page of cards).
    """
    in_vendor_currency = and_(Variant.product_id == Product.id,
                              Variant.currency == Vendor.default_currency)
    low = select(func.min(Variant.price_minor)).where(in_vendor_currency).scalar_subquery()
    high = select(func.max(Variant.price_minor)).where(in_vendor_currency).scalar_subquery()
    # The compare-at price of a cheapest variant (the highest, when several share that price).
    was = (select(Variant.compare_at_minor).where(in_vendor_currency)
           .order_by(Variant.price_minor, Variant.compare_at_minor.desc().nulls_last(),
                     Variant.id)
           .limit(1).scalar_subquery())
    available = (
        select(func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved), 0))
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(Variant.product_id == Product.id)
        .scalar_subquery()
    )
    return (
        select(Product.id, Product.title, Product.slug, Product.featured, Vendor.id,
               Vendor.name, Vendor.logo.is_not(None), Vendor.default_currency, low, high,
               available, Product.rating_total, Product.rating_count, Vendor.slug, was)
        .join(Vendor, Vendor.id == Product.vendor_id)
        .where(visible_products())
    )


def card_from_row(row: Sequence) -> ProductCard:
    (pid, title, slug, featured, vid, vname, has_logo, currency, low, high, available,
     rating_total, rating_count, vendor_slug, was) = row
    return ProductCard(
        id=pid, title=title, slug=slug, featured=bool(featured), vendor_id=vid,
        vendor_name=vname, vendor_has_logo=bool(has_logo), lowest_price=Money(int(low), currency),
        price_varies=low != high, in_stock=int(available or 0) > 0,
        rating_x100=rating_total * 100 // rating_count if rating_count else 0,
        rating_count=rating_count, vendor_slug=vendor_slug,
        compare_at=shown_compare_at(int(low), was, currency),
    )


def translated_titles(product_ids: Iterable[int], locale: str) -> dict[int, str]:
    """Product id -> its title in ``locale``, for those of ``product_ids`` translated into
    it, in one query."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(ProductTranslation.product_id, ProductTranslation.title)
        .where(ProductTranslation.product_id.in_(ids), ProductTranslation.locale == locale)
    ).all()
    return {pid: title for pid, title in rows if title and title.strip()}


def in_locale(cards: Sequence[ProductCard], locale: str) -> list[ProductCard]:
    """``cards`` with their titles in ``locale`` where the vendor translated them: one query
    for the whole page, none in the default locale. An untranslated card keeps the default
    title, marked with its language."""
    default = default_locale()
    if locale == default or not cards:
        return list(cards)
    titles = translated_titles((card.id for card in cards), locale)
    return [replace(card, title=titles[card.id]) if card.id in titles
            else replace(card, lang=default) for card in cards]


def cards_for(product_ids: Sequence[int], locale: str | None = None) -> list[ProductCard]:
    """Cards for ``product_ids`` in that order, titled in ``locale`` (None: the default
    locale), in one query (two in another locale). Ids no longer visible (the index lags
    the database by one job) are left out."""
    if not product_ids:
        return []
    rows = db.session.execute(card_select().where(Product.id.in_(list(product_ids)))).all()
    by_id = {row[0]: card_from_row(row) for row in rows}
    cards = [by_id[pid] for pid in product_ids if pid in by_id]
    return in_locale(cards, locale) if locale else cards


# --- The product page -----------------------------------------------------------------------


@dataclass(frozen=True)
class VariantView:
    id: int
    sku: str
    attributes: dict[str, str]
    price: Money
    available: int
    # The "was" price, only when higher than ``price``.
    compare_at: Money | None = None

    @property
    def in_stock(self) -> bool:
        return self.available > 0


@dataclass(frozen=True)
class VendorCard:
    id: int
    name: str
    slug: str
    has_logo: bool
    country: str
    # Over the vendor's visible products; 0 when nobody rated any.
    rating_x100: int
    rating_count: int
    # Countries of the warehouses that hold stock of the product shown (else the vendor's).
    ships_from: tuple[str, ...]
    # Vacation: the listing stays visible but can't be bought; the vendor's note to buyers.
    on_vacation: bool = False
    vacation_message: str = ""


@dataclass(frozen=True)
class ProductDetail:
    id: int
    title: str
    slug: str
    description: str
    category_id: int
    rating_x100: int
    rating_count: int
    created_at: dt.datetime
    vendor: VendorCard
    variants: tuple[VariantView, ...]
    # Attribute name -> its values in first-seen order, e.g. ("size", ("S", "M")).
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    # The locales ``title`` and ``description`` are written in (the default locale's, until
    # :meth:`in_locale` picks a translation).
    title_locale: str = ""
    description_locale: str = ""
    # The vendor's translations: (locale, title, description), in locale order.
    translations: tuple[tuple[str, str, str], ...] = ()

    def in_locale(self, locale: str) -> ProductDetail:
        """This product with its title and description in ``locale`` where the vendor wrote
        them, else the default locale's (each on its own: a translated title with an empty
        description shows the default description)."""
        for code, title, description in self.translations:
            if code == locale:
                return replace(
                    self,
                    title=title if title.strip() else self.title,
                    title_locale=locale if title.strip() else self.title_locale,
                    description=description if description.strip() else self.description,
                    description_locale=(locale if description.strip()
                                        else self.description_locale),
                )
        return self

    @property
    def summary(self) -> str:
        """The description as plain text, cut at a word to about ``SUMMARY_LENGTH``
        characters (the page's meta description)."""
        words = " ".join(plain_text(self.description).split())
        if len(words) <= SUMMARY_LENGTH:
            return words
        return words[:SUMMARY_LENGTH].rsplit(" ", 1)[0].rstrip(",;:.") + "…"

    @property
    def lowest_price(self) -> Money:
        return min((v.price for v in self.variants), key=lambda m: m.amount_minor)

    @property
    def price_varies(self) -> bool:
        return len({v.price.amount_minor for v in self.variants}) > 1

    @property
    def in_stock(self) -> bool:
        return any(v.in_stock for v in self.variants)

    @property
    def paragraphs(self) -> list[str]:
        """The description split at blank lines (rendered escaped, one <p> each)."""
        text = self.description.replace("\r\n", "\n").strip()
        return [part.strip() for part in text.split("\n\n") if part.strip()]


def _load_vendor_rating(vendor_id: int) -> tuple[int, int]:
    total, count = db.session.execute(
        select(func.coalesce(func.sum(Product.rating_total), 0),
               func.coalesce(func.sum(Product.rating_count), 0))
        .where(Product.vendor_id == vendor_id, Product.status == ProductStatus.APPROVED)
    ).one()
    return (int(total) * 100 // int(count) if count else 0), int(count)


def _vendor_rating(vendor_id: int) -> tuple[int, int]:
    """(average x100, count) over the vendor's approved products. Kept per process and
    generation: it sums thousands of rows for a big shop, and all its products share it."""
    return memoized(f"vendor-rating:{int(vendor_id)}", lambda: _load_vendor_rating(vendor_id))


def _axes(variants: Iterable[VariantView]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    values: dict[str, list[str]] = {}
    for variant in variants:
        for name, value in variant.attributes.items():
            seen = values.setdefault(name, [])
            if value not in seen:
                seen.append(value)
    return tuple((name, tuple(found)) for name, found in values.items())


def _load_product(product_id: int) -> ProductDetail | None:
    row = db.session.execute(
        select(Product.id, Product.title, Product.slug, Product.description,
               Product.category_id, Product.rating_total, Product.rating_count,
               Product.created_at, Vendor.id.label("vendor_id"), Vendor.name.label("vendor_name"),
               Vendor.slug.label("vendor_slug"), Vendor.logo.is_not(None).label("has_logo"),
               Vendor.country, Vendor.default_currency, Vendor.on_vacation,
               Vendor.vacation_message)
        .join(Vendor, Vendor.id == Product.vendor_id)
        .where(Product.id == product_id, visible_products())
    ).first()
    if row is None:
        return None
    # Variants priced in the vendor's currency with their stock per warehouse, one row per
    # (variant, stock level); a variant without stock rows comes once with no country.
    rows = db.session.execute(
        select(Variant.id, Variant.sku, Variant.price_minor, Variant.attributes,
               Variant.compare_at_minor,
               StockLocation.country, StockLevel.on_hand - StockLevel.reserved)
        .outerjoin(StockLevel, StockLevel.variant_id == Variant.id)
        .outerjoin(StockLocation, StockLocation.id == StockLevel.location_id)
        .where(Variant.product_id == product_id, Variant.currency == row.default_currency)
        .order_by(Variant.id, StockLocation.country)
    ).all()
    if not rows:  # its last priced variant went between the two queries
        return None
    available: dict[int, int] = defaultdict(int)
    described: dict[int, tuple[str, int, dict, int | None]] = {}
    countries: list[str] = []
    for vid, sku, price, attrs, compare_at, country, units in rows:
        described.setdefault(vid, (sku, price, attrs or {}, compare_at))
        available[vid] += int(units or 0)
        if units and country not in countries:
            countries.append(country)
    variants = tuple(
        VariantView(id=vid, sku=sku, price=Money(price, row.default_currency),
                    attributes={str(k): str(v) for k, v in attrs.items()
                                if v is not None and str(v).strip()},
                    available=max(available[vid], 0),
                    compare_at=shown_compare_at(price, compare_at, row.default_currency))
        for vid, (sku, price, attrs, compare_at) in described.items()
    )
    default = default_locale()
    translations = tuple(
        (locale, title or "", description or "")
        for locale, title, description in db.session.execute(
            select(ProductTranslation.locale, ProductTranslation.title,
                   ProductTranslation.description)
            .where(ProductTranslation.product_id == product_id,
                   ProductTranslation.locale != default)
            .order_by(ProductTranslation.locale)
        )
    )
    rating_x100, rating_count = _vendor_rating(row.vendor_id)
    vendor = VendorCard(
        id=row.vendor_id, name=row.vendor_name, slug=row.vendor_slug,
        has_logo=bool(row.has_logo), country=row.country, rating_x100=rating_x100,
        rating_count=rating_count, ships_from=tuple(sorted(countries)) or (row.country,),
        on_vacation=bool(row.on_vacation), vacation_message=row.vacation_message or "",
    )
    return ProductDetail(
        id=row.id, title=row.title, slug=row.slug, description=row.description or "",
        category_id=row.category_id,
        rating_x100=row.rating_total * 100 // row.rating_count if row.rating_count else 0,
        rating_count=row.rating_count, created_at=row.created_at, vendor=vendor,
        variants=variants, axes=_axes(variants), title_locale=default,
        description_locale=default, translations=translations,
    )


def product_detail(product_id: int, locale: str | None = None) -> ProductDetail | None:
    """A visible product with its variants (priced in the vendor's currency), stock per
    variant and its vendor's card, or None; its title and description in ``locale`` where
    translated (None: the default locale's). Three queries (four the first time a process
    meets its vendor in a generation), then cached per generation with every translation,
    so one entry serves every language."""
    detail = cached("product", str(int(product_id)), lambda: _load_product(int(product_id)))
    return detail.in_locale(locale) if detail is not None and locale else detail


# --- The vendor storefront ------------------------------------------------------------------


@dataclass(frozen=True)
class VendorProfile:
    id: int
    name: str
    slug: str
    description: str
    country: str
    has_logo: bool
    rating_x100: int
    rating_count: int
    on_vacation: bool = False
    vacation_message: str = ""


def _load_vendor(slug: str) -> VendorProfile | None:
    row = db.session.execute(
        select(Vendor.id, Vendor.name, Vendor.slug, Vendor.description, Vendor.country,
               Vendor.logo.is_not(None), Vendor.on_vacation, Vendor.vacation_message)
        .where(Vendor.slug == slug, Vendor.status == VendorStatus.APPROVED)
    ).first()
    if row is None:
        return None
    rating_x100, rating_count = _vendor_rating(row[0])
    return VendorProfile(row[0], row[1], row[2], row[3] or "", row[4], bool(row[5]),
                         rating_x100, rating_count, bool(row[6]), row[7] or "")


def vendor_profile(slug: str) -> VendorProfile | None:
    """An approved vendor's storefront header, or None (unknown, pending, suspended)."""
    if len(slug) > 140 or "\x00" in slug:  # no such slug; PostgreSQL refuses NUL in text
        return None
    return cached("vendor", slug, lambda: _load_vendor(slug))
