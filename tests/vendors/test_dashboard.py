"""The vendor portal's front page: the member's own vendor only, its status and its numbers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from marketplace.extensions import db
from tests.factories import make_product, make_user, make_vendor
from vendors.models import ProductStatus, StockLevel, Variant, VendorStatus
from vendors.services import low_stock_count, product_counts_by_status


def _log_in(client, user) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def _status_count(html: str, status: str) -> int:
    match = re.search(rf'<tr data-status="{status}"><td>[^<]*</td><td>(\d+)</td></tr>', html)
    assert match, f"no row for {status}"
    return int(match.group(1))


def test_each_owner_sees_only_their_own_vendors_counts(client):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    alices = make_vendor("Alice's Attic", owner=alice)
    bobs = make_vendor("Bob's Bikes", owner=bob)
    make_product(alices, title="Lamp")
    make_product(alices, title="Vase")
    make_product(alices, title="Rug", status=ProductStatus.DRAFT)
    make_product(bobs, title="Helmet", status=ProductStatus.SUBMITTED)
    db.session.commit()

    _log_in(client, alice)
    alice_page = client.get("/vendor/").get_data(as_text=True)
    _log_in(client, bob)
    bob_page = client.get("/vendor/").get_data(as_text=True)

    assert "<h1>Alice&#39;s Attic</h1>" in alice_page and "Bob&#39;s Bikes" not in alice_page
    assert [_status_count(alice_page, s) for s in ("draft", "submitted", "approved")] == [1, 0, 2]
    assert '<p class="stat-value" id="total-products">3</p>' in alice_page
    assert "<h1>Bob&#39;s Bikes</h1>" in bob_page and "Alice&#39;s Attic" not in bob_page
    assert [_status_count(bob_page, s) for s in ("draft", "submitted", "approved")] == [0, 1, 0]
    assert '<p class="stat-value" id="total-products">1</p>' in bob_page


def test_low_stock_counts_variants_with_three_or_fewer_available(client):
    owner = make_user("owner@example.com")
    vendor = make_vendor("Stocky", owner=owner)
    make_product(vendor, title="Three left", on_hand=3)
    make_product(vendor, title="Plenty", on_hand=10)
    reserved = make_product(vendor, title="Mostly reserved", on_hand=5)
    level = db.session.scalar(db.select(StockLevel).join(Variant).where(
        Variant.product_id == reserved.id))
    level.reserved = 3
    no_rows = make_product(vendor, title="Never stocked", on_hand=4)
    db.session.add(Variant(vendor_id=vendor.id, product_id=no_rows.id, sku="NEW-1",
                           price_minor=100, currency="EUR"))
    make_product(vendor, title="Archived", on_hand=0, status=ProductStatus.ARCHIVED)
    make_product(make_vendor("Other", owner=make_user()), title="Theirs", on_hand=0)
    db.session.commit()

    _log_in(client, owner)
    html = client.get("/vendor/").get_data(as_text=True)

    # "Three left", "Mostly reserved" (2 available) and the variant without stock rows.
    assert low_stock_count(vendor.id) == 3
    assert '<p class="stat-value" id="low-stock">3</p>' in html


def test_counts_include_every_status_with_zeros(app):
    vendor = make_vendor()
    make_product(vendor, status=ProductStatus.REJECTED)
    db.session.commit()

    assert product_counts_by_status(vendor.id) == {
        ProductStatus.DRAFT: 0, ProductStatus.SUBMITTED: 0, ProductStatus.APPROVED: 0,
        ProductStatus.REJECTED: 1, ProductStatus.ARCHIVED: 0,
    }


def test_a_pending_vendor_is_told_it_awaits_approval(client):
    owner = make_user()
    make_vendor("Fresh Shop", owner=owner, status=VendorStatus.PENDING)
    db.session.commit()
    _log_in(client, owner)

    html = client.get("/vendor/").get_data(as_text=True)

    assert "Your shop is waiting for approval." in html
    assert "Your shop is suspended." not in html


def test_a_suspended_vendor_is_told_its_listings_are_hidden(client):
    owner = make_user()
    make_vendor("Paused Shop", owner=owner, status=VendorStatus.SUSPENDED)
    db.session.commit()
    _log_in(client, owner)

    html = client.get("/vendor/").get_data(as_text=True)

    assert "Your shop is suspended." in html
    assert "Your listings are hidden from buyers and payouts are on hold." in html


def test_an_approved_vendor_sees_no_status_banner(client):
    owner = make_user()
    make_vendor("Live Shop", owner=owner)
    db.session.commit()
    _log_in(client, owner)

    html = client.get("/vendor/").get_data(as_text=True)

    assert "status-banner" not in html


def test_every_portal_page_the_dashboard_links_to_answers(client):
    owner = make_user()
    make_vendor("Live Shop", owner=owner)
    db.session.commit()
    _log_in(client, owner)

    html = client.get("/vendor/").get_data(as_text=True)
    links = set(re.findall(r'href="(/vendor[^"]*)"', html))

    assert {"/vendor/", "/vendor/shop", "/vendor/stock", "/vendor/stock/low",
            "/vendor/stock/movements", "/vendor/locations", "/vendor/products", "/vendor/team",
            "/vendor/payouts", "/vendor/api-tokens"} <= links
    assert {link: client.get(link).status_code for link in links} == dict.fromkeys(links, 200)


def test_a_buyer_without_a_vendor_is_forbidden(client):
    buyer = make_user("buyer@example.com")
    db.session.commit()
    _log_in(client, buyer)

    answer = client.get("/vendor/")

    assert answer.status_code == 403


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    answer = client.get("/vendor/")

    assert answer.status_code == 302
    assert urlsplit(answer.headers["Location"]).path == "/login"
