"""The portal's filter forms: their "All" choice is sent as an empty parameter and means no
filter (it used to be refused as "Not a valid integer" / "Must be one of")."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.factories import make_vendor
from tests.vendors.factories import make_location, make_person, make_variant, set_stock
from tests.vendors.pages import log_in, rows
from vendors import inventory
from vendors.access import Actor
from vendors.models import ProductStatus, VendorMembership


@pytest.fixture
def shop(app):
    owner = make_person("olga@example.com", name="Olga")
    vendor = make_vendor("Olga's Linen", owner=owner)
    berlin = make_location(vendor, "Berlin")
    shirt = make_variant(vendor, sku="SHIRT-M", title="Linen Shirt")
    dress = make_variant(vendor, sku="DRESS-M", title="Linen Dress",
                         status=ProductStatus.DRAFT)
    set_stock(shirt, berlin, 4)
    membership = db.session.scalars(
        select(VendorMembership).where(VendorMembership.user_id == owner.id)).one()
    inventory.adjust_stock(Actor.member(membership), variant_id=shirt.id,
                           location_id=berlin.id, reason="received", quantity=2)
    db.session.commit()
    return owner, shirt, dress


def test_the_stock_form_with_all_locations_lists_every_variant(client, shop):
    owner, shirt, dress = shop
    log_in(client, owner)

    answer = client.get("/vendor/stock?q=&location_id=")

    assert answer.status_code == 200
    assert sorted(rows(answer.get_data(as_text=True), "variant")) == sorted(
        [shirt.id, dress.id])


def test_the_stock_form_searches_with_all_locations(client, shop):
    owner, shirt, _dress = shop
    log_in(client, owner)

    answer = client.get("/vendor/stock?q=shirt&location_id=")

    assert answer.status_code == 200
    assert rows(answer.get_data(as_text=True), "variant") == [shirt.id]


def test_the_product_list_with_all_statuses_lists_every_product(client, shop):
    owner, shirt, dress = shop
    log_in(client, owner)

    answer = client.get("/vendor/products?status=")

    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert f'data-product="{shirt.product_id}"' in page
    assert f'data-product="{dress.product_id}"' in page


def test_the_movements_form_with_all_locations_and_reasons_lists_every_movement(client,
                                                                                 shop):
    owner, _shirt, _dress = shop
    log_in(client, owner)

    answer = client.get("/vendor/stock/movements?location_id=&reason=")

    assert answer.status_code == 200
    assert len(rows(answer.get_data(as_text=True), "movement")) == 1
