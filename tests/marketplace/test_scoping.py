"""A vendor's query helpers cannot return another vendor's rows."""

import pytest
from werkzeug.exceptions import NotFound

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.scoping import get_vendor_owned_or_404, vendor_select
from tests.factories import make_product, make_vendor
from vendors.models import Product, StockLevel, Variant


def test_vendor_select_returns_only_the_vendors_own_rows(app):
    mine, theirs = make_vendor("Mine"), make_vendor("Theirs")
    own = make_product(mine, title="Own lamp")
    make_product(theirs, title="Their lamp")
    db.session.commit()

    for model in (Product, Variant, StockLevel):
        rows = db.session.scalars(vendor_select(model, mine.id)).all()
        assert rows and {row.vendor_id for row in rows} == {mine.id}
    assert [p.title for p in db.session.scalars(vendor_select(Product, mine.id))] == [own.title]


def test_another_vendors_object_is_a_404_not_a_403(app):
    mine, theirs = make_vendor("Mine"), make_vendor("Theirs")
    their_product = make_product(theirs)
    db.session.commit()

    with pytest.raises(NotFound):
        get_vendor_owned_or_404(Product, their_product.id, mine.id)
    assert get_vendor_owned_or_404(Product, their_product.id, theirs.id) == their_product


def test_tables_without_a_vendor_cannot_be_vendor_scoped(app):
    with pytest.raises(TypeError, match="Category has no vendor_id"):
        vendor_select(Category, 1)
