"""Checking an import against the shop's catalog: the :class:`Plan` of what a file would do.

:func:`validate_file` reads the file (``vendors/imports.py``: format, header, one row), loads
what the database holds for the SKUs and handles in it (a few queries per 500 of them), and
checks the rows together: a SKU once per file, a known SKU stays in its product, a new one
names a product and a price, rows of one product agree, a new product has a title and a
category, a count is not below the units reserved, and products in review, live or archived
change only in price, compare-at price, threshold and stock. Nothing is written;
``vendors.import_apply.apply_plan`` writes the valid rows of a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.scoping import vendor_select
from vendors.imports import (
    ATTR_PREFIX,
    EDITABLE_STATUSES,
    HANDLE_RE,
    MAX_FILE_BYTES,
    MAX_ROWS,
    QUERY_CHUNK,
    STOCK_PREFIX,
    FileRejected,
    Row,
    RowError,
    decode,
    parse_row,
    read_header,
    records,
    too_large,
)
from vendors.models import (
    Product,
    ProductStatus,
    ProductTranslation,
    StockLevel,
    StockLocation,
    Variant,
    Vendor,
)


@dataclass(frozen=True)
class ProductFacts:
    id: int
    handle: str
    status: ProductStatus
    title: str
    category_id: int
    description: str


@dataclass(frozen=True)
class VariantFacts:
    id: int
    product_id: int
    handle: str
    price_minor: int
    currency: str
    compare_at_minor: int | None
    weight_grams: int | None
    low_stock_threshold: int | None
    attributes: dict


@dataclass
class Plan:
    """What a file would do: the valid rows and what the database holds for them."""

    vendor_id: int
    currency: str
    total_rows: int = 0
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    products: dict[str, ProductFacts] = field(default_factory=dict)
    variants: dict[str, VariantFacts] = field(default_factory=dict)
    # (variant_id, location_id) -> (on_hand, reserved) for the known variants in the file.
    levels: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    locations: dict[int, str] = field(default_factory=dict)
    # SKU -> the lines it is on (rows with errors too).
    sku_lines: dict[str, list[int]] = field(default_factory=dict)

    @property
    def lines_with_errors(self) -> set[int]:
        return {e.line for e in self.errors if e.line is not None}



# --- What the database holds ---------------------------------------------------------------


def _chunks(values: list, size: int = QUERY_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _load_facts(plan: Plan, rows: list[Row]) -> None:
    vendor_id = plan.vendor_id
    skus = sorted({row.sku for row in rows})
    for chunk in _chunks(skus):
        for r in db.session.execute(
            select(Variant.id, Variant.sku, Variant.product_id, Product.slug,
                   Variant.price_minor, Variant.currency, Variant.compare_at_minor,
                   Variant.weight_grams, Variant.low_stock_threshold, Variant.attributes)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.vendor_id == vendor_id, Variant.sku.in_(chunk))
        ):
            plan.variants[r.sku] = VariantFacts(
                r.id, r.product_id, r.slug, r.price_minor, r.currency, r.compare_at_minor,
                r.weight_grams, r.low_stock_threshold, dict(r.attributes or {}))
    handles = sorted({row.handle for row in rows if row.handle}
                     | {facts.handle for facts in plan.variants.values()})
    for chunk in _chunks(handles):
        for r in db.session.execute(
            vendor_select(Product, vendor_id)
            .with_only_columns(Product.id, Product.slug, Product.status, Product.title,
                               Product.category_id, Product.description)
            .where(Product.slug.in_(chunk))
        ):
            plan.products[r.slug] = ProductFacts(r.id, r.slug, ProductStatus(r.status),
                                                 r.title, r.category_id, r.description or "")
    variant_ids = sorted(facts.id for facts in plan.variants.values())
    for chunk in _chunks(variant_ids):
        for r in db.session.execute(
            select(StockLevel.variant_id, StockLevel.location_id, StockLevel.on_hand,
                   StockLevel.reserved)
            .where(StockLevel.vendor_id == vendor_id, StockLevel.variant_id.in_(chunk))
        ):
            plan.levels[(r.variant_id, r.location_id)] = (r.on_hand, r.reserved)


def existing_translations(product_ids: Iterable[int]) -> dict[tuple[int, str], tuple[str, str]]:
    """(product_id, locale) -> (title, description) of these products' translations."""
    found: dict[tuple[int, str], tuple[str, str]] = {}
    for chunk in _chunks(sorted(set(product_ids))):
        for r in db.session.execute(
            select(ProductTranslation.product_id, ProductTranslation.locale,
                   ProductTranslation.title, ProductTranslation.description)
            .where(ProductTranslation.product_id.in_(chunk))
        ):
            found[(r.product_id, r.locale)] = (r.title, r.description or "")
    return found


# --- Checking the rows together -------------------------------------------------------------


def _check_against_catalog(plan: Plan, rows: list[Row]) -> list[Row]:
    """Rows that fit the shop's catalog; errors for the others go to ``plan.errors``."""
    translations = existing_translations(p.id for p in plan.products.values())
    kept: list[Row] = []
    for row in rows:
        error = _row_problem(plan, row, translations)
        if error is None:
            kept.append(row)
        else:
            plan.errors.append(error)
    return _check_products(plan, kept)


def _row_problem(plan: Plan, row: Row,
                 translations: dict[tuple[int, str], tuple[str, str]]) -> RowError | None:
    line = row.line
    same_sku = plan.sku_lines.get(row.sku, [])
    if len(same_sku) > 1:
        others = ", ".join(str(other) for other in same_sku if other != row.line)
        return RowError(line, "sku", _("The SKU \"%(sku)s\" is also on line(s) %(lines)s; "
                                       "each SKU may appear once.", sku=row.sku, lines=others))
    known = plan.variants.get(row.sku)
    if known is not None:
        if row.handle and row.handle != known.handle:
            return RowError(line, "product_handle", _(
                "The SKU \"%(sku)s\" belongs to the product \"%(handle)s\"; an import can't "
                "move a variant to another product.", sku=row.sku, handle=known.handle))
        row.handle = known.handle
    elif not row.handle:
        return RowError(line, "product_handle", _(
            "\"%(sku)s\" is a new SKU: give the handle of its product.", sku=row.sku))
    elif row.handle not in plan.products and not HANDLE_RE.match(row.handle):
        return RowError(line, "product_handle", _(
            "Use lowercase letters, digits and single hyphens for a new product's handle "
            "(like \"linen-shirt\")."))
    elif "price_minor" not in row.variant:
        return RowError(line, "price", _("\"%(sku)s\" is a new SKU: give its price.",
                                         sku=row.sku))
    for location_id, counted in row.stock.items():
        reserved = plan.levels.get((known.id, location_id), (0, 0))[1] if known else 0
        if counted < reserved:
            return RowError(line, STOCK_PREFIX + plan.locations[location_id], _(
                "%(reserved)d units here are reserved for orders, so the count can't be "
                "lower than that.", reserved=reserved))
    price = row.variant.get("price_minor", known.price_minor if known else None)
    compare_at = row.variant.get("compare_at_minor")
    if compare_at is not None and price is not None and compare_at <= price:
        return RowError(line, "compare_at_price", _(
            "The compare-at price is the \"was\" price: make it higher than the price."))
    product = plan.products.get(row.handle)
    if product is not None and product.status not in EDITABLE_STATUSES:
        return _locked_problem(plan, row, product, known, translations)
    return None


def _locked_problem(plan: Plan, row: Row, product: ProductFacts, known: VariantFacts | None,
                    translations: dict[tuple[int, str], tuple[str, str]]) -> RowError | None:
    """A row for a submitted, live or archived product may only change prices, threshold
    and stock of an existing variant; anything else names the first column it would change."""
    def refuse(column: str) -> RowError:
        return RowError(row.line, column, _(
            "The product \"%(handle)s\" is %(status)s: an import changes only the price, "
            "compare-at price, low-stock threshold and stock of its variants. Change "
            "\"%(column)s\" in the product editor (the edit goes to review).",
            handle=product.handle, status=_status_label(product.status), column=column))

    if known is None:
        return refuse("sku")
    current = {"title": product.title, "category_id": product.category_id,
               "description": product.description}
    for key, value in row.product.items():
        if value != current[key]:
            return refuse("category" if key == "category_id" else key)
    for key in ("currency", "weight_grams"):
        if key in row.variant and row.variant[key] != getattr(known, key):
            return refuse(key)
    for name, value in row.attributes.items():
        if str(known.attributes.get(name, "")) != value:
            return refuse(ATTR_PREFIX + name)
    for locale, values in row.translations.items():
        title, description = translations.get((product.id, locale), ("", ""))
        current_translation = {"title": title, "description": description}
        for key, value in values.items():
            if value != current_translation[key]:
                return refuse(f"{key}:{locale}")
    return None


def _status_label(status: ProductStatus) -> str:
    return {ProductStatus.SUBMITTED: _("in review"), ProductStatus.APPROVED: _("live"),
            ProductStatus.ARCHIVED: _("archived")}.get(status, str(status))


def _check_products(plan: Plan, rows: list[Row]) -> list[Row]:
    """Rows of one product agree on its fields; a new product has a title and category."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.handle, []).append(row)
    kept: list[Row] = []
    for handle, group in groups.items():
        first: dict[str, Row] = {}
        agreeing: list[Row] = []
        for row in group:
            values = dict(row.product)
            for locale, texts in row.translations.items():
                values.update({f"{key}:{locale}": text for key, text in texts.items()})
            clash = next((key for key, value in values.items()
                          if key in first and _product_value(first[key], key) != value), None)
            if clash is not None:
                plan.errors.append(RowError(
                    row.line, "category" if clash == "category_id" else clash, _(
                        "This differs from line %(line)d for the same product \"%(handle)s\": "
                        "give it once, or the same on every line.",
                        line=first[clash].line, handle=handle)))
                continue
            for key in values:
                first.setdefault(key, row)
            agreeing.append(row)
        if handle not in plan.products and agreeing:
            missing = [column for key, column in (("title", "title"),
                                                   ("category_id", "category"))
                       if key not in first]
            if missing:
                plan.errors.extend(RowError(row.line, missing[0], _(
                    "The new product \"%(handle)s\" needs a %(column)s on one of its lines.",
                    handle=handle, column=missing[0])) for row in agreeing)
                continue
        kept.extend(agreeing)
    return kept


def _product_value(row: Row, key: str) -> Any:
    if ":" in key:
        name, _sep, locale = key.partition(":")
        return row.translations[locale][name]
    return row.product[key]


# --- The whole file ------------------------------------------------------------------------


def validate_file(vendor_id: int, data: bytes,
                  progress: Callable[[int, int], None] | None = None) -> Plan:
    """Check ``data`` (the uploaded CSV) for the vendor without writing anything.

    Returns the plan: valid rows and row errors (line numbers count the header as line 1).
    Raises FileRejected when the file as a whole can't be read (too large, not UTF-8, bad
    header, too many rows). ``progress(done, total)`` is called as rows are checked.
    """
    if len(data) > MAX_FILE_BYTES:
        raise too_large()
    vendor = db.session.get(Vendor, vendor_id)
    text = decode(data)
    names = dict(db.session.execute(vendor_select(StockLocation, vendor_id)
                                    .with_only_columns(StockLocation.id, StockLocation.name))
                 .all())
    locations = {name.lower(): location_id for location_id, name in names.items()}
    rows_in_file = records(text)
    try:
        _line, header_cells = next(rows_in_file)
    except StopIteration:
        raise FileRejected(_("The file is empty."), field="file") from None
    header = read_header(header_cells, locations)
    body = [(line, cells) for line, cells in rows_in_file if any(c.strip() for c in cells)]
    if len(body) > MAX_ROWS:
        raise FileRejected(_("The file has %(rows)s rows; import at most %(max)s at a time "
                             "(split the file).", rows=f"{len(body):,}",
                             max=f"{MAX_ROWS:,}"), field="file")
    plan = Plan(vendor_id=vendor_id, currency=vendor.default_currency, total_rows=len(body),
                locations=names)
    categories = {slug.lower(): category_id for slug, category_id in db.session.execute(
        select(func.lower(Category.slug), Category.id))}
    # Every line's SKU, rows with errors included: a SKU given twice is a mistake either way.
    sku_at = header.columns.index("sku")
    for line, cells in body:
        if sku_at < len(cells) and cells[sku_at].strip():
            plan.sku_lines.setdefault(cells[sku_at].strip(), []).append(line)
    parsed: list[Row] = []
    for done, (line, cells) in enumerate(body, start=1):
        result = parse_row(line, cells, header, plan.currency, categories)
        if isinstance(result, Row):
            parsed.append(result)
        else:
            plan.errors.extend(result)
        if progress and done % 1000 == 0:
            progress(done, len(body))
    _load_facts(plan, parsed)
    plan.rows = _check_against_catalog(plan, parsed)
    plan.errors.sort(key=lambda e: (e.line or 0))
    if progress:
        progress(len(body), len(body))
    return plan


