"""The vendor portal's front page: the member's own vendor only, its status and its numbers."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from marketplace.db import utcnow
from marketplace.extensions import db
from tests.factories import make_product, make_user, make_vendor
from tests.order_factories import Part, make_order
from tests.vendors.factories import make_variant
from tests.vendors.pages import text
from vendors import sales
from vendors.models import ProductStatus, StockLevel, Variant, VendorStatus
from vendors.order_models import SubOrderStatus
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


# --- Orders, sales chart, low stock (the checkout's orders) -------------------------------


def _shop_with_sales():
    owner = make_user("olga@example.com")
    vendor = make_vendor("Olga's Oils", owner=owner)
    oil = make_variant(vendor, sku="OIL-1", price_minor=1_250)
    soap = make_variant(vendor, sku="SOAP-1", price_minor=450)
    buyer = make_user("bert@example.com")
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    orders = {
        "yesterday": make_order(buyer, Part(((oil, 2), (soap, 1))),
                                placed_at=now - dt.timedelta(days=1)),
        "also_yesterday": make_order(buyer, Part(((soap, 3),), status=SubOrderStatus.ACCEPTED),
                                     placed_at=now - dt.timedelta(days=1)),
        "ten_days": make_order(buyer, Part(((oil, 1),), status=SubOrderStatus.READY_TO_SHIP),
                               placed_at=now - dt.timedelta(days=10)),
        "rejected": make_order(buyer, Part(((oil, 5),), status=SubOrderStatus.REJECTED),
                               placed_at=now - dt.timedelta(days=2)),
        "too_old": make_order(buyer, Part(((oil, 7),)), placed_at=now - dt.timedelta(days=40)),
        "unpaid": make_order(buyer, Part(((oil, 9),), status=SubOrderStatus.AWAITING_PAYMENT),
                             placed_at=now),
    }
    # A sale in the buyer's currency: the chart still counts the vendor's own price.
    orders["in_dollars"] = make_order(buyer, Part(((soap, 2),)), currency="USD",
                                      placed_at=now)
    db.session.commit()
    return owner, vendor, orders, now.date()


def test_daily_sales_sum_the_vendors_own_prices_of_sold_parts(app):
    _owner, vendor, _orders, today = _shop_with_sales()

    series = dict(sales.daily_sales(vendor.id, "EUR", today=today))

    assert len(series) == 30
    assert {day: amount for day, amount in series.items() if amount} == {
        today: 900,                              # 2 × 4.50 (paid in USD)
        today - dt.timedelta(days=1): 4_300,     # 2 × 12.50 + 4.50 and 3 × 4.50
        today - dt.timedelta(days=10): 1_250,
    }


def test_the_front_page_charts_sales_with_a_table_fallback(client):
    owner, _vendor, _orders, today = _shop_with_sales()
    _log_in(client, owner)

    page = client.get("/vendor/").get_data(as_text=True)

    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert 'id="sales-total">€64.50<' in page
    assert "at your prices, in EUR; best day €43.00" in text(page)
    assert page.count("<rect ") == 3
    assert f'<title id="sales-chart-title">Daily sales from ' \
           f'{(today - dt.timedelta(days=29)).isoformat()} to {today.isoformat()}</title>' in page
    assert re.search(rf'<tr data-day="{yesterday}"><td>{yesterday}</td>'
                     r'<td class="num amount">€43.00</td></tr>', page)
    assert page.count('<tr data-day="') == 30


def test_the_front_page_lists_the_five_latest_orders_and_those_to_accept(client):
    owner, _vendor, orders, _today = _shop_with_sales()
    _log_in(client, owner)

    page = client.get("/vendor/").get_data(as_text=True)

    shown = [int(i) for i in re.findall(r'<tr data-recent-order="(\d+)"', page)]
    newest_first = sorted((o.sub_orders[0].id for k, o in orders.items() if k != "unpaid"),
                          reverse=True)
    assert shown == newest_first[:5]
    assert "3 new orders wait for you to accept them." in text(page)


def test_a_new_shop_sees_empty_states_for_sales_orders_and_low_stock(client):
    owner = make_user("new@example.com")
    make_vendor("Brand New", owner=owner)
    db.session.commit()
    _log_in(client, owner)

    page = text(client.get("/vendor/").get_data(as_text=True))

    assert ("No sales in the last 30 days yet. Paid orders show up here as a chart of your "
            "daily sales.") in page
    assert "No orders yet. When buyers pay for your products, their orders appear here." \
        in page
    assert "Lowest on stock Nothing is low on stock." in page


def test_the_front_page_lists_what_is_lowest_on_stock(client):
    owner = make_user("stock@example.com")
    vendor = make_vendor("Stocky", owner=owner)
    make_product(vendor, title="Two left", on_hand=2)
    make_product(vendor, title="Plenty", on_hand=50)
    db.session.commit()
    _log_in(client, owner)

    page = client.get("/vendor/").get_data(as_text=True)

    assert len(re.findall(r'<tr data-low-variant="\d+">', page)) == 1
    assert "Two left 2 3" in text(page)
