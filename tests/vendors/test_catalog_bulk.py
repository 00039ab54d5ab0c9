"""Sending every draft for review at once (after a CSV import made hundreds of them)."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.extensions import db
from tests.vendors.catalog_factories import make_shop, shirt_data
from tests.vendors.pages import flashes, log_in
from vendors import catalog
from vendors.models import Product, ProductStatus


def _draft(actor, category, title: str) -> Product:
    data = shirt_data(category.id)
    data["texts"] = {"en": {"title": title, "description": ""}}
    code = title.upper().replace(" ", "-")
    for variant in data["variants"]:
        variant["sku"] = variant["sku"].replace("SHIRT", code)
    return catalog.create_product(actor, data)


def _statuses(vendor_id: int) -> dict[str, str]:
    rows = db.session.execute(select(Product.title, Product.status)
                              .where(Product.vendor_id == vendor_id)).all()
    return {title: status.value for title, status in rows}


def test_every_draft_with_a_variant_goes_to_review_in_one_click(client, post_form):
    vendor, owner, actor, category = make_shop()
    other_vendor, _owner, other_actor, _category = make_shop("Other Shop")
    _draft(actor, category, "Shirt A")
    _draft(actor, category, "Shirt B")
    _draft(other_actor, category, "Not mine")
    db.session.commit()
    log_in(client, owner)

    listing = client.get("/vendor/products").get_data(as_text=True)
    answer = post_form("/vendor/products/submit-drafts")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)

    assert "Send all 2 drafts for review" in listing
    assert answer.status_code == 303
    assert _statuses(vendor.id) == {"Shirt A": "submitted", "Shirt B": "submitted"}
    assert _statuses(other_vendor.id) == {"Not mine": "draft"}
    assert flashes(page) == ["2 draft(s) sent for review."]


def test_the_button_is_hidden_without_drafts(client):
    vendor, owner, actor, category = make_shop()
    product = _draft(actor, category, "Shirt A")
    catalog.submit_product(actor, product.id)
    db.session.commit()
    log_in(client, owner)

    listing = client.get("/vendor/products").get_data(as_text=True)

    assert product.status == ProductStatus.SUBMITTED
    assert "drafts for review" not in listing and "draft for review" not in listing
