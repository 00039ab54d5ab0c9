"""The catalog's side of the index: documents, and the jobs that keep the index fresh."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from marketplace import search
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import OutboxJob
from marketplace.search import SearchQuery
from tests.buyers.conftest import add_variant, counting_statements, set_attributes
from tests.factories import make_category, make_product, make_vendor
from vendors.models import Product, ProductStatus, StockLevel, Variant, Vendor, VendorStatus
from vendors.search import (
    documents_for,
    queue_reindex_products,
    queue_reindex_vendor,
    reindex_products,
    visible_product_count,
    visible_products,
)


def _found(text: str = "", **filters) -> list[int]:
    return search.search(SearchQuery(text=text, **filters)).product_ids


# --- documents_for ------------------------------------------------------------------------


def test_a_document_carries_prices_stock_attributes_categories_and_rating(app):
    home = make_category("Home & Living")
    furniture = make_category("Furniture", parent=home)
    vendor = make_vendor("Nordic Goods")
    chair = make_product(vendor, furniture, title="Oak Chair", price_minor=12_900, on_hand=2)
    chair.description = "Solid oak."
    chair.rating_total, chair.rating_count = 14, 3
    set_attributes(chair, {"colour": "Oak", "size": "M"})
    add_variant(chair, sku="CHAIR-L", price_minor=11_900, attributes={"colour": "Walnut",
                                                                      "size": "L"}, on_hand=1)
    db.session.commit()

    [document] = documents_for([chair.id])

    assert document.product_id == chair.id
    assert (document.vendor_id, document.vendor_name) == (vendor.id, "Nordic Goods")
    assert document.category_path == (home.id, furniture.id)
    assert document.category_names == ("Home & Living", "Furniture")
    assert document.texts == {"en": ("Oak Chair", "Solid oak.")}
    assert document.default_locale == "en"
    assert document.attributes == {"colour": ("Oak", "Walnut"), "size": ("L", "M")}
    assert (document.price_minor, document.currency, document.price_base_minor) == (
        11_900, "EUR", 11_900)
    assert document.in_stock is True
    assert (document.rating_x100, document.rating_count) == (466, 3)
    assert isinstance(document.created_at, dt.datetime)


def test_the_base_price_is_the_lowest_vendor_price_converted_to_euros(app):
    lamp = make_product(make_vendor("Kumo Store", currency="JPY"), title="Paper Lamp",
                        price_minor=8_000)
    # A price in another currency than the vendor's is not what the storefront shows.
    add_variant(lamp, sku="LAMP-EUR", price_minor=10, attributes={}, currency="EUR")
    db.session.commit()

    [document] = documents_for([lamp.id])

    assert (document.price_minor, document.currency) == (8_000, "JPY")
    assert document.price_base_minor == 5_000  # ¥8,000 at ¥160 per euro is €50.00


def test_stock_is_available_units_over_every_variant_and_location(app):
    reserved = make_product(make_vendor(), title="Reserved Vase", on_hand=2)
    level = db.session.scalar(select(StockLevel).where(StockLevel.vendor_id ==
                                                       reserved.vendor_id))
    level.reserved = 2
    unrated = make_product(make_vendor(), title="Plain Mug", on_hand=0)
    db.session.commit()

    documents = {d.product_id: d for d in documents_for([reserved.id, unrated.id])}

    assert documents[reserved.id].in_stock is False
    assert documents[unrated.id].in_stock is False
    assert (documents[unrated.id].rating_x100, documents[unrated.id].rating_count) == (0, 0)


def test_only_approved_products_of_approved_vendors_with_a_price_get_a_document(app):
    visible = make_product(make_vendor("Live"), title="Visible Mug")
    draft = make_product(make_vendor("Live 2"), title="Draft Mug", status=ProductStatus.DRAFT)
    suspended = make_product(make_vendor("Paused", status=VendorStatus.SUSPENDED),
                             title="Hidden Mug")
    pending = make_product(make_vendor("New", status=VendorStatus.PENDING), title="New Mug")
    unpriced = make_product(make_vendor("Odd"), title="Dollar Mug")
    unpriced.variants[0].currency = "USD"  # the vendor sells in EUR
    db.session.commit()

    ids = [p.id for p in (visible, draft, suspended, pending, unpriced)]

    assert [d.product_id for d in documents_for(ids)] == [visible.id]


def test_documents_cost_the_same_queries_for_one_product_or_many(app):
    vendor = make_vendor()
    ids = [make_product(vendor, title=f"Item {n}").id for n in range(12)]
    db.session.commit()

    with counting_statements() as one:
        documents_for(ids[:1])
    with counting_statements() as twelve:
        assert len(documents_for(ids)) == 12

    # products, translations, variants, stock, categories, exchange rates
    assert len(one) == len(twelve) == 6


# --- Jobs through the real queue ------------------------------------------------------------


def test_a_committed_product_is_searchable_after_its_job_runs(app, search_index):
    product = make_product(make_vendor(), title="Linen Throw")
    queue_reindex_products([product.id])
    db.session.commit()
    queued = db.session.scalar(select(OutboxJob))

    ran = run_queued_jobs(app)

    assert (queued.queue, queued.func, queued.args) == (
        "search", "vendors.search.reindex_products", [[product.id]])
    assert ran == 1
    assert _found("linen") == [product.id]


def test_a_rolled_back_change_enqueues_nothing(app, search_index):
    product = make_product(make_vendor(), title="Linen Throw")
    db.session.commit()
    queue_reindex_products([product.id])
    db.session.rollback()

    assert run_queued_jobs(app) == 0
    assert _found("linen") == []


def test_an_edit_a_stock_change_and_an_unapproval_reach_the_index(app, search_index):
    product = make_product(make_vendor(), title="Linen Throw", on_hand=0)
    queue_reindex_products([product.id])
    db.session.commit()
    run_queued_jobs(app)
    assert _found("linen", in_stock_only=True) == []

    product.title = "Wool Throw"
    db.session.scalar(select(StockLevel)).on_hand = 4
    queue_reindex_products([product.id])
    db.session.commit()
    run_queued_jobs(app)
    after_edit = (_found("linen"), _found("wool", in_stock_only=True))

    product.status = ProductStatus.ARCHIVED
    queue_reindex_products([product.id])
    db.session.commit()
    run_queued_jobs(app)

    assert after_edit == ([], [product.id])
    assert _found("wool") == []


def test_suspending_a_vendor_removes_its_products_and_reinstating_brings_them_back(
        app, search_index):
    vendor = make_vendor("Nordic Goods")
    chair = make_product(vendor, title="Oak Chair")
    stool = make_product(vendor, title="Oak Stool")
    other = make_product(make_vendor("Kumo Store"), title="Oak Tray")
    queue_reindex_products([chair.id, stool.id, other.id])
    db.session.commit()
    run_queued_jobs(app)

    vendor.set_status(VendorStatus.SUSPENDED)
    queue_reindex_vendor(vendor.id)
    db.session.commit()
    run_queued_jobs(app)
    while_suspended = sorted(_found("oak"))

    vendor.set_status(VendorStatus.APPROVED)
    queue_reindex_vendor(vendor.id)
    db.session.commit()
    run_queued_jobs(app)

    assert while_suspended == [other.id]
    assert sorted(_found("oak")) == sorted([chair.id, stool.id, other.id])


def test_reindexing_unknown_or_deleted_products_removes_them(app, search_index):
    product = make_product(make_vendor(), title="Linen Throw")
    db.session.commit()
    reindex_products([product.id])
    db.session.execute(db.delete(StockLevel))
    db.session.execute(db.delete(Variant))
    db.session.delete(product)
    db.session.commit()

    indexed = reindex_products([product.id, 987_654])

    assert indexed == 0
    assert _found("linen") == []


def test_the_reindex_command_rebuilds_the_index_with_a_progress_bar(app, search_index):
    vendor = make_vendor()
    for n in range(3):
        make_product(vendor, title=f"Linen Throw {n}")
    make_product(vendor, title="Linen Draft", status=ProductStatus.DRAFT)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["marketplace", "reindex"])

    assert result.exit_code == 0, result.output
    assert "Indexing products" in result.output
    assert "Indexed 3 product(s)." in result.output
    assert len(_found("linen")) == 3


def test_the_seed_command_leaves_a_searchable_catalog_through_the_job_path(app, search_index):
    result = app.test_cli_runner().invoke(
        args=["marketplace", "seed", "--vendors", "3", "--products", "4", "--buyers", "1"])
    if app.config["REDIS_URL"]:  # a worker would run it; here the test is the worker
        assert "rebuilt by a worker" in result.output
        run_queued_jobs(app)
    title = db.session.scalar(
        select(Product.title).join(Vendor, Vendor.id == Product.vendor_id)
        .where(visible_products()).order_by(Product.id).limit(1))

    assert result.exit_code == 0, result.output
    found = search.search(SearchQuery(text=title, per_page=100)).product_ids
    assert db.session.scalar(select(Product.id).where(Product.title == title)) in found
    assert search.search(SearchQuery()).total == visible_product_count() > 0
