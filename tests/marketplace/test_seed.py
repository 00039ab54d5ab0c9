"""The demo seed: deterministic, the requested size, and usable logins and logos."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from PIL import Image
from sqlalchemy import func, select

from marketplace.admin.seed import DEMO_PASSWORD, seed_demo
from marketplace.extensions import db
from marketplace.models import Category, Role, User
from tests.conftest import _clean
from tests.factories import make_user
from vendors.models import (
    MemberRole,
    Product,
    ProductStatus,
    StockLevel,
    StockLocation,
    Variant,
    Vendor,
    VendorMembership,
    VendorStatus,
)


def _fingerprint() -> tuple:
    vendors = db.session.execute(
        select(Vendor.name, Vendor.country, Vendor.default_currency, Vendor.status, Vendor.logo)
        .order_by(Vendor.name)
    ).all()
    variants = db.session.execute(
        select(Vendor.name, Product.title, Variant.sku, Variant.price_minor, Variant.currency)
        .join(Vendor, Vendor.id == Variant.vendor_id)
        .join(Product, Product.id == Variant.product_id)
        .order_by(Vendor.name, Variant.sku)
    ).all()
    return tuple(vendors), tuple(variants)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_same_seed_gives_the_same_marketplace_and_another_seed_does_not(app):
    seed_demo(vendors=4, products=5, buyers=2, seed=7)
    db.session.commit()
    first = _fingerprint()
    _clean(app)

    seed_demo(vendors=4, products=5, buyers=2, seed=7)
    db.session.commit()
    second = _fingerprint()
    _clean(app)

    seed_demo(vendors=4, products=5, buyers=2, seed=8)
    db.session.commit()
    other = _fingerprint()

    assert len(first[0]) == 4 and len(first[1]) >= 20
    assert second == first
    assert other != first


def test_the_seed_writes_the_requested_numbers_of_rows(app):
    summary = seed_demo(vendors=5, products=3, buyers=2, seed=1)
    db.session.commit()

    assert (summary.vendors, summary.products) == (5, 15)
    assert _count(Vendor) == 5
    assert _count(Product) == 15
    assert _count(User) == 1 + 2 + 5
    assert _count(Variant) == summary.variants
    assert _count(StockLevel) == summary.stock_levels
    roots = db.session.scalars(select(Category).where(Category.parent_id.is_(None))).all()
    assert [root.name for root in roots] == [
        "Home & Living", "Fashion", "Electronics", "Books", "Sports & Outdoors", "Beauty",
    ]
    assert all(3 <= len(root.children) <= 5 for root in roots)
    variants_per_product = Counter(db.session.scalars(select(Variant.product_id)))
    assert set(variants_per_product.values()) <= {1, 2, 3, 4}
    assert len(variants_per_product) == 15
    locations_per_vendor = Counter(db.session.scalars(select(StockLocation.vendor_id)))
    assert set(locations_per_vendor.values()) <= {1, 2} and len(locations_per_vendor) == 5


def test_one_vendor_is_pending_and_one_suspended_and_the_rest_approved(app):
    seed_demo(vendors=5, products=2, buyers=1, seed=3)
    db.session.commit()

    statuses = Counter(db.session.scalars(select(Vendor.status)))

    assert statuses == {VendorStatus.APPROVED: 3, VendorStatus.PENDING: 1,
                        VendorStatus.SUSPENDED: 1}


def test_skus_are_unique_per_vendor_and_prices_are_in_the_vendors_currency(app):
    seed_demo(vendors=4, products=10, buyers=1, seed=5)
    db.session.commit()

    rows = db.session.execute(
        select(Variant.vendor_id, Variant.sku, Variant.currency, Vendor.default_currency)
        .join(Vendor, Vendor.id == Variant.vendor_id)
    ).all()

    assert len({(vendor_id, sku) for vendor_id, sku, _, _ in rows}) == len(rows)
    assert all(currency == default for _, _, currency, default in rows)


def test_jpy_prices_are_round_whole_yen_at_the_yen_scale(app):
    seed_demo(vendors=4, products=20, buyers=1, seed=42)
    db.session.commit()

    yen = db.session.scalars(select(Variant.price_minor).where(Variant.currency == "JPY")).all()
    euro = db.session.scalars(select(Variant.price_minor).where(Variant.currency == "EUR")).all()

    assert yen and euro
    # A €7-€899 catalogue is roughly ¥1,000-¥150,000; cents-scaled yen would be 100x larger.
    assert all(price % 10 == 0 and 1_000 <= price <= 200_000 for price in yen)
    assert all(100 <= price <= 100_000 for price in euro)


def test_some_products_are_featured_some_not_approved_and_some_sold_out(app):
    seed_demo(vendors=12, products=20, buyers=1, seed=42)
    db.session.commit()

    statuses = Counter(db.session.scalars(select(Product.status)))
    featured = db.session.scalar(select(func.count()).where(Product.featured.is_(True)))
    sold_out_variants = db.session.scalar(
        select(func.count()).select_from(
            select(StockLevel.variant_id).group_by(StockLevel.variant_id)
            .having(func.sum(StockLevel.on_hand - StockLevel.reserved) == 0).subquery()
        )
    )

    assert 0.05 <= featured / statuses[ProductStatus.APPROVED] <= 0.30
    assert statuses[ProductStatus.DRAFT] > 0 and statuses[ProductStatus.SUBMITTED] > 0
    assert sold_out_variants > 0


def test_demo_accounts_log_in_with_the_demo_password(app):
    seed_demo(vendors=3, products=1, buyers=2, seed=42)
    db.session.commit()

    admin = db.session.scalar(select(User).where(User.email == "admin@example.com"))
    buyer = db.session.scalar(select(User).where(User.email == "buyer@example.com"))
    owner = db.session.scalar(select(User).where(User.email == "vendor1@example.com"))
    first_vendor = db.session.scalar(select(Vendor).order_by(Vendor.id).limit(1))
    membership = db.session.scalar(
        select(VendorMembership).where(VendorMembership.user_id == owner.id)
    )

    assert DEMO_PASSWORD == "marketplace-demo"
    assert admin.role == Role.ADMIN and buyer.role == Role.BUYER
    assert all(user.check_password("marketplace-demo") for user in (admin, buyer, owner))
    assert not buyer.check_password("wrong password")
    assert (membership.vendor_id, membership.role) == (first_vendor.id, MemberRole.OWNER)
    assert db.session.scalar(select(User).where(User.email == "buyer2@example.com")) is not None


def test_every_vendor_gets_a_png_logo(app):
    seed_demo(vendors=3, products=0, buyers=1, seed=42)
    db.session.commit()

    vendors = db.session.scalars(select(Vendor)).all()

    assert len(vendors) == 3
    for vendor in vendors:
        assert vendor.logo_mime == "image/png"
        image = Image.open(io.BytesIO(vendor.logo))
        assert (image.format, image.size) == ("PNG", (128, 128))


def test_the_command_seeds_and_prints_the_demo_logins(app):
    result = app.test_cli_runner().invoke(
        args=["marketplace", "seed", "--vendors", "3", "--products", "2", "--buyers", "1"]
    )

    assert result.exit_code == 0, result.output
    assert "3 vendors, 6 products" in result.output
    for line in ("password: marketplace-demo", "admin@example.com", "buyer@example.com",
                 "vendor1@example.com"):
        assert line in result.output
    assert _count(Product) == 6


def test_running_the_command_twice_fails_clearly_and_if_empty_makes_it_a_no_op(app):
    runner = app.test_cli_runner()
    args = ["marketplace", "seed", "--vendors", "3", "--products", "2", "--buyers", "1"]
    runner.invoke(args=args)

    again = runner.invoke(args=args)
    if_empty = runner.invoke(args=[*args, "--if-empty"])

    assert again.exit_code == 1
    assert "Error: The database already has data, so demo data was not added." in again.output
    assert if_empty.exit_code == 0
    assert _count(Vendor) == 3 and _count(Product) == 6


def test_the_command_refuses_a_database_that_has_data_unless_asked_to_skip(app):
    make_user("someone@example.com")
    db.session.commit()
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["marketplace", "seed", "--vendors", "1", "--products", "1"])
    skipped = runner.invoke(args=["marketplace", "seed", "--if-empty"])

    assert refused.exit_code == 1
    assert "The database already has data, so demo data was not added" in refused.output
    assert "--if-empty" in refused.output
    assert skipped.exit_code == 0
    assert "leaving it as it is" in skipped.output
    assert _count(Vendor) == 0 and _count(User) == 1


def test_the_command_refuses_sizes_below_one_vendor(app):
    result = app.test_cli_runner().invoke(args=["marketplace", "seed", "--vendors", "0"])

    assert result.exit_code == 2
    assert "--vendors" in result.output
    assert _count(User) == 0


def test_seed_demo_refuses_impossible_sizes(app):
    with pytest.raises(ValueError, match="at least one vendor"):
        seed_demo(vendors=0, products=1, buyers=1, seed=1)
