"""Storefront fixtures: a search index of the test's own, and a small catalog to browse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import event

from marketplace.extensions import db
from marketplace.models import Category
from tests.buyers.checkout_support import market  # noqa: F401  (cart and checkout)
from tests.factories import make_category, make_product, make_vendor
from vendors.models import Product, StockLevel, StockLocation, Variant, Vendor
from vendors.search import rebuild_index


@pytest.fixture
def search_index(app: Flask, tmp_path) -> Iterator[str]:
    """A fresh Whoosh index directory for this test (the app is shared by the session)."""
    saved = (app.config["SEARCH_INDEX_DIR"], app.config["SEARCH_BACKEND"])
    app.config["SEARCH_INDEX_DIR"] = str(tmp_path / "search-index")
    app.config["SEARCH_BACKEND"] = "whoosh"
    app.extensions.pop("marketplace.search", None)
    yield app.config["SEARCH_INDEX_DIR"]
    app.extensions.pop("marketplace.search", None)
    app.config["SEARCH_INDEX_DIR"], app.config["SEARCH_BACKEND"] = saved


def reindex() -> int:
    """Commit, then rebuild the index the way the job does (and bump the generation)."""
    db.session.commit()
    return rebuild_index()


def add_variant(product: Product, *, sku: str, price_minor: int, attributes: dict,
                on_hand: int = 5, reserved: int = 0, currency: str | None = None) -> Variant:
    vendor = db.session.get(Vendor, product.vendor_id)
    variant = Variant(vendor_id=product.vendor_id, product_id=product.id, sku=sku,
                      price_minor=price_minor, currency=currency or vendor.default_currency,
                      attributes=attributes)
    location = db.session.scalar(db.select(StockLocation)
                                 .where(StockLocation.vendor_id == product.vendor_id)
                                 .order_by(StockLocation.id).limit(1))
    db.session.add(variant)
    db.session.flush()
    db.session.add(StockLevel(vendor_id=product.vendor_id, variant_id=variant.id,
                              location_id=location.id, on_hand=on_hand, reserved=reserved))
    db.session.flush()
    return variant


def set_attributes(product: Product, attributes: dict) -> None:
    """Give the factory's single variant these attributes instead of {"colour": "oak"}."""
    product.variants[0].attributes = attributes
    db.session.flush()


@dataclass
class Shop:
    home: Category
    furniture: Category
    lighting: Category
    books: Category
    nordic: Vendor
    kumo: Vendor
    chair: Product
    table: Product
    lamp: Product
    novel: Product
    sold_out: Product


@pytest.fixture
def shop(app: Flask, search_index) -> Shop:
    """Two vendors, a small category tree and five products, indexed.

    | product              | vendor       | category  | price  | stock | colour       |
    | Oak Chair            | Nordic Goods | Furniture | €129   | 5     | Oak, Walnut  |
    | Walnut Side Table    | Nordic Goods | Furniture | €249   | 2     | Walnut       |
    | Brass Table Lamp     | Kumo Store   | Lighting  | ¥8,000 | 3     | Brass        |
    | The Quiet Lighthouse | Kumo Store   | Books     | ¥1,500 | 9     | (none)       |
    | Sold Out Stool       | Nordic Goods | Furniture | €59    | 0     | Oak          |
    """
    home = make_category("Home & Living")
    furniture = make_category("Furniture", parent=home)
    lighting = make_category("Lighting", parent=home)
    books = make_category("Books")
    nordic = make_vendor("Nordic Goods")
    kumo = make_vendor("Kumo Store", currency="JPY")
    chair = make_product(nordic, furniture, title="Oak Chair", price_minor=12_900, on_hand=5)
    set_attributes(chair, {"colour": "Oak"})
    add_variant(chair, sku="CHAIR-WALNUT", price_minor=13_900, attributes={"colour": "Walnut"},
                on_hand=0)
    table = make_product(nordic, furniture, title="Walnut Side Table", price_minor=24_900,
                         on_hand=2)
    set_attributes(table, {"colour": "Walnut"})
    lamp = make_product(kumo, lighting, title="Brass Table Lamp", price_minor=8_000, on_hand=3)
    set_attributes(lamp, {"colour": "Brass"})
    novel = make_product(kumo, books, title="The Quiet Lighthouse", price_minor=1_500,
                         on_hand=9)
    set_attributes(novel, {})
    sold_out = make_product(nordic, furniture, title="Sold Out Stool", price_minor=5_900,
                            on_hand=0)
    set_attributes(sold_out, {"colour": "Oak"})
    reindex()
    return Shop(home, furniture, lighting, books, nordic, kumo, chair, table, lamp, novel,
                sold_out)


@contextmanager
def counting_statements():
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
