"""Catalog CSV export: the vendor's products, variants and stock in the import's format.

One row per variant (products without variants have nothing to sell and are left out), the
columns the import reads (``vendors/imports.py``), so an exported file imports back without
a change. Set-based: four queries whatever the catalog's size.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from flask import current_app
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.money import Money
from marketplace.scoping import vendor_select
from vendors.imports import ATTR_PREFIX, PRODUCT_COLUMNS, STOCK_PREFIX, VARIANT_COLUMNS
from vendors.models import Product, ProductTranslation, StockLevel, StockLocation, Variant


def _amount(amount_minor: int | None, currency: str) -> str:
    return "" if amount_minor is None else str(Money(amount_minor, currency).to_decimal())


def _text(value: object) -> str:
    return "" if value is None else str(value)


def export_csv(vendor_id: int) -> tuple[bytes, int]:
    """The vendor's catalog as UTF-8 CSV bytes (with a byte-order mark, so spreadsheet
    programs read the accents right), and the number of data rows."""
    locations = db.session.execute(
        vendor_select(StockLocation, vendor_id)
        .with_only_columns(StockLocation.id, StockLocation.name)
        .order_by(StockLocation.priority, StockLocation.name, StockLocation.id)).all()
    rows = db.session.execute(
        select(Product.id.label("product_id"), Product.slug, Product.title,
               Category.slug.label("category"), Product.description, Variant.id, Variant.sku,
               Variant.price_minor, Variant.currency, Variant.compare_at_minor,
               Variant.weight_grams, Variant.low_stock_threshold, Variant.attributes)
        .join(Product, Product.id == Variant.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(Variant.vendor_id == vendor_id)
        .order_by(Product.id, Variant.id)).all()
    stock = {(variant_id, location_id): on_hand for variant_id, location_id, on_hand in
             db.session.execute(vendor_select(StockLevel, vendor_id).with_only_columns(
                 StockLevel.variant_id, StockLevel.location_id, StockLevel.on_hand))}
    translations: dict[int, dict[str, tuple[str, str]]] = defaultdict(dict)
    for product_id, locale, title, description in db.session.execute(
            vendor_select(ProductTranslation, vendor_id).with_only_columns(
                ProductTranslation.product_id, ProductTranslation.locale,
                ProductTranslation.title, ProductTranslation.description)):
        translations[product_id][locale] = (title, description or "")

    default_locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    locales = [code for code in current_app.config["LANGUAGES"] if code != default_locale
               and any(code in texts for texts in translations.values())]
    attribute_names = sorted({str(name) for row in rows for name in (row.attributes or {})})
    header = [*PRODUCT_COLUMNS,
              *(f"{name}:{locale}" for locale in locales for name in ("title", "description")),
              *VARIANT_COLUMNS,
              *(ATTR_PREFIX + name for name in attribute_names),
              *(STOCK_PREFIX + name for _id, name in locations)]

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        texts = translations.get(row.product_id, {})
        attributes = row.attributes or {}
        writer.writerow([
            row.slug, row.title, row.category, row.description or "",
            *(value for locale in locales for value in texts.get(locale, ("", ""))),
            row.sku, _amount(row.price_minor, row.currency), row.currency,
            _amount(row.compare_at_minor, row.currency), _text(row.weight_grams),
            _text(row.low_stock_threshold),
            *(_text(attributes.get(name)) for name in attribute_names),
            *(_text(stock.get((row.id, location_id))) for location_id, _name in locations),
        ])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8"), len(rows)
