"""A small market to shop in (three shops with shipping), and helpers for cart and checkout
tests. ``tests/buyers/conftest.py`` makes the ``market`` fixture available to the buyers'
tests; elsewhere import it (``from tests.buyers.checkout_support import market``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from marketplace.extensions import db
from marketplace.models import User
from tests.checkout_factories import flat_shipping
from tests.factories import make_product, make_vendor
from tests.vendors.factories import make_person
from vendors.models import Variant, Vendor
from vendors.shipping_models import ShippingMethod

ADDRESS = {"name": "Ada Buyer", "line1": "Hauptstr. 1", "line2": "", "city": "Berlin",
           "region": "", "postal_code": "10115", "country": "DE", "phone": ""}
US_ADDRESS = {**ADDRESS, "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
              "country": "US", "region": "IL"}


@dataclass
class Market:
    nordic: Vendor
    atelier: Vendor
    kumo: Vendor
    chair: Variant  # Nordic Goods, €129.00, 5 in stock
    lamp: Variant  # Atelier Lumen, €45.00, 3 in stock
    mug: Variant  # Kumo Store, ¥1,500, 10 in stock
    nordic_post: ShippingMethod  # €4.90, free from €200
    atelier_post: ShippingMethod  # €5.00
    kumo_post: ShippingMethod  # ¥800
    buyer: User


@pytest.fixture
def market(app) -> Market:
    nordic = make_vendor("Nordic Goods")
    atelier = make_vendor("Atelier Lumen")
    kumo = make_vendor("Kumo Store", currency="JPY")
    chair = make_product(nordic, title="Oak Chair", price_minor=12_900, on_hand=5).variants[0]
    lamp = make_product(atelier, title="Brass Lamp", price_minor=4_500, on_hand=3).variants[0]
    mug = make_product(kumo, title="Tea Mug", price_minor=1_500, on_hand=10).variants[0]
    market = Market(
        nordic=nordic, atelier=atelier, kumo=kumo, chair=chair, lamp=lamp, mug=mug,
        nordic_post=flat_shipping(nordic.id, price_minor=490, free_over_minor=20_000),
        atelier_post=flat_shipping(atelier.id, price_minor=500),
        kumo_post=flat_shipping(kumo.id, price_minor=800, currency="JPY",
                                countries=("DE", "US")),
        buyer=make_person("buyer@example.com", name="Ada Buyer"),
    )
    db.session.commit()
    return market


CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def api_headers(client: FlaskClient, **extra: str) -> dict[str, str]:
    """Headers of a same-site JSON call: the page's CSRF token in X-CSRFToken."""
    page = client.get("/cart").get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match
    return {"X-CSRFToken": match.group(1), **extra}


def log_in(client: FlaskClient, user: User) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def review_form(review_page: str) -> dict[str, str]:
    """The hidden fields of the review page's "Place order" form (key, currency, total)."""
    form = re.search(r'<form method="post" action="/checkout/place">(.*?)</form>', review_page,
                     re.S)
    assert form
    return dict(re.findall(r'<input type="hidden" name="(idempotency_key|currency|total_minor)"'
                           r' value="([^"]*)">', form.group(1)))
