"""Creating and editing products: variants from option types, SKUs, prices, categories,
languages, sanitized descriptions, roles, and the portal's product pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from tests.vendors.catalog_factories import make_shop, make_staff, shirt_data
from tests.vendors.factories import make_variant
from tests.vendors.pages import field_error, flashes, log_in, text
from vendors import catalog
from vendors.catalog_schemas import ProductInputSchema
from vendors.errors import Conflict, InvalidInput, PermissionDenied
from vendors.models import (
    MemberRole,
    Product,
    ProductStatus,
    ProductTranslation,
    Variant,
)
from vendors.rich_text import render, sanitize


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- Variants from option types ------------------------------------------------------------


def test_option_types_generate_one_variant_per_combination():
    variants = catalog.generate_variants(
        [{"name": "size", "values": ["S", "M"]}, {"name": "colour", "values": ["red", "blue"]}],
        sku_prefix="tee", price_minor=1_500, weight_grams=180)

    assert [(v["sku"], v["options"], v["price_minor"], v["weight_grams"]) for v in variants] == [
        ("TEE-S-RED", {"size": "S", "colour": "red"}, 1_500, 180),
        ("TEE-S-BLUE", {"size": "S", "colour": "blue"}, 1_500, 180),
        ("TEE-M-RED", {"size": "M", "colour": "red"}, 1_500, 180),
        ("TEE-M-BLUE", {"size": "M", "colour": "blue"}, 1_500, 180),
    ]


def test_a_product_is_created_as_a_draft_with_generated_variants_in_the_shops_currency(app):
    vendor, _owner, actor, category = make_shop(currency="GBP")
    data = shirt_data(category.id, variants=None, option_types=[
        {"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["red", "blue"]}],
        generate_variants={"sku_prefix": "tee", "price_minor": 1_500, "compare_at_minor": None,
                           "weight_grams": 180})
    del data["variants"]

    product = catalog.create_product(actor, data)
    db.session.commit()

    assert (product.status, product.title, product.slug, product.vendor_id) == (
        ProductStatus.DRAFT, "Linen Shirt", "linen-shirt", vendor.id)
    assert product.option_types == [{"name": "size", "values": ["S", "M"]},
                                    {"name": "colour", "values": ["red", "blue"]}]
    assert [(v.sku, v.attributes, v.price_minor, v.currency) for v in product.variants] == [
        ("TEE-S-RED", {"size": "S", "colour": "red"}, 1_500, "GBP"),
        ("TEE-S-BLUE", {"size": "S", "colour": "blue"}, 1_500, "GBP"),
        ("TEE-M-RED", {"size": "M", "colour": "red"}, 1_500, "GBP"),
        ("TEE-M-BLUE", {"size": "M", "colour": "blue"}, 1_500, "GBP"),
    ]


def test_compare_at_price_weight_and_translations_are_stored(app):
    _vendor, _owner, actor, category = make_shop()
    data = shirt_data(category.id)
    data["texts"]["de"] = {"title": "Leinenhemd", "description": "<p>Weiches Leinen.</p>"}

    product = catalog.create_product(actor, data)
    db.session.commit()

    assert [(v.sku, v.compare_at_minor, v.weight_grams) for v in product.variants] == [
        ("SHIRT-S", None, 200), ("SHIRT-M", 5_900, 220)]
    assert [(t.locale, t.title, t.description) for t in product.translations] == [
        ("de", "Leinenhemd", "<p>Weiches Leinen.</p>")]
    assert product.attributes == {"material": "linen"}


# --- Refused input writes nothing ----------------------------------------------------------


def test_a_sku_used_by_another_product_is_a_field_error_and_nothing_is_written(app):
    vendor, _owner, actor, category = make_shop()
    make_variant(vendor, sku="SHIRT-M")
    db.session.commit()
    before = (_count(Product), _count(Variant))

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, shirt_data(category.id))
    db.session.rollback()

    assert (refused.value.field, refused.value.message) == (
        "variants.1.sku", "The SKU SHIRT-M is already used by another of your products.")
    assert (_count(Product), _count(Variant)) == before


def test_another_vendors_sku_is_free_to_use(app):
    _vendor, _owner, actor, category = make_shop()
    other, _other_owner, _other_actor, _cat = make_shop("Other Shop")
    make_variant(other, sku="SHIRT-S")

    product = catalog.create_product(actor, shirt_data(category.id))

    assert [v.sku for v in product.variants] == ["SHIRT-S", "SHIRT-M"]


def test_the_same_sku_twice_in_one_product_is_refused(app):
    _vendor, _owner, actor, category = make_shop()
    data = shirt_data(category.id)
    data["variants"][1]["sku"] = "SHIRT-S"

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, data)

    assert (refused.value.field, refused.value.message) == (
        "variants.1.sku", "The SKU SHIRT-S is used twice.")


@pytest.mark.parametrize(("price", "message"), [
    (-1, "Must be greater than or equal to 0 and less than or equal to 100000000."),
    (100_000_001, "Must be greater than or equal to 0 and less than or equal to 100000000."),
    ("12.50", "Not a valid integer."),
])
def test_negative_absurd_or_non_integer_prices_are_refused_by_the_schema(app, price, message):
    data = shirt_data(1)
    data["variants"][0]["price_minor"] = price

    with pytest.raises(Exception) as refused:
        ProductInputSchema().load(data)

    assert refused.value.messages == {"variants": {0: {"price_minor": [message]}}}


def test_the_service_refuses_prices_out_of_bounds_even_without_the_schema(app):
    _vendor, _owner, actor, category = make_shop()
    data = shirt_data(category.id)
    data["variants"][0]["price_minor"] = -500

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, data)

    assert (refused.value.field, refused.value.message) == (
        "variants.0.price_minor", "Enter a price from 0 to 100000000 (in cents).")


def test_a_compare_at_price_below_the_price_is_refused(app):
    _vendor, _owner, actor, category = make_shop()
    data = shirt_data(category.id)
    data["variants"][1]["compare_at_minor"] = 4_000

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, data)

    assert (refused.value.field, refused.value.message) == (
        "variants.1.compare_at_minor", "The compare-at price must be higher than the price.")


def test_an_unknown_category_is_a_field_error(app):
    _vendor, _owner, actor, _category = make_shop()

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, shirt_data(987_654))

    assert (refused.value.field, refused.value.message) == (
        "category_id", "There is no such category.")
    assert _count(Product) == 0


def test_the_default_language_title_is_required(app):
    _vendor, _owner, actor, category = make_shop()

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, shirt_data(category.id, texts={
            "de": {"title": "Leinenhemd", "description": ""}}))

    assert (refused.value.field, refused.value.message) == (
        "texts.en.title", "A title in the default language (en) is required.")


def test_an_unsupported_language_is_refused(app):
    _vendor, _owner, actor, category = make_shop()

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, shirt_data(category.id, texts={
            "en": {"title": "Shirt", "description": ""}, "xx": {"title": "?", "description": ""}}))

    assert (refused.value.field, refused.value.message) == (
        "texts", "Use one of these languages: en, de.")


def test_variant_options_must_be_one_value_of_each_option_type(app):
    _vendor, _owner, actor, category = make_shop()
    data = shirt_data(category.id)
    data["variants"][1]["options"] = {"size": "XXL"}

    with pytest.raises(InvalidInput) as refused:
        catalog.create_product(actor, data)

    assert (refused.value.field, refused.value.message) == (
        "variants.1.options", "Choose one value of each option (size).")


# --- Descriptions --------------------------------------------------------------------------


def test_descriptions_keep_the_allowed_tags_and_lose_scripts_and_unsafe_links():
    dirty = ('<p onclick="steal()">Soft <strong>linen</strong> <em>shirt</em><script>alert(1)'
             '</script></p><ul><li>washable</li></ul><a href="javascript:alert(1)">x</a>'
             '<a href="https://example.com/care">care</a><img src=x onerror=alert(1)>'
             '<iframe src="https://evil.example"></iframe>')

    assert sanitize(dirty) == (
        '<p>Soft <strong>linen</strong> <em>shirt</em></p><ul><li>washable</li></ul>'
        '<a rel="nofollow noopener">x</a>'
        '<a href="https://example.com/care" rel="nofollow noopener">care</a>')


def test_plain_text_descriptions_render_escaped_as_paragraphs():
    assert str(render("Fits <3 sizes\nwell\n\nMachine wash")) == (
        "<p>Fits &lt;3 sizes<br>well</p><p>Machine wash</p>")


def test_the_description_is_sanitized_when_saved(app):
    _vendor, _owner, actor, category = make_shop()

    product = catalog.create_product(actor, shirt_data(category.id, texts={"en": {
        "title": "Shirt", "description": "<p>Nice<script>alert('x')</script></p>"}}))

    assert product.description == "<p>Nice</p>"


# --- Editing and roles ---------------------------------------------------------------------


def test_a_draft_is_edited_in_place_and_keeps_unlisted_variants(app):
    _vendor, _owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    db.session.commit()

    result = catalog.update_product(actor, product.id, {
        "texts": {"de": {"title": "Leinenhemd", "description": ""}},
        "variants": [{"sku": "SHIRT-M", "price_minor": 5_200, "compare_at_minor": None,
                      "weight_grams": None, "options": {"size": "M"}}]})
    db.session.commit()

    assert result is product
    assert product.title == "Linen Shirt"
    assert [(v.sku, v.price_minor) for v in product.variants] == [
        ("SHIRT-S", 4_900), ("SHIRT-M", 5_200)]
    assert db.session.scalars(select(ProductTranslation.title)).all() == ["Leinenhemd"]


def test_an_emptied_translation_is_removed(app):
    _vendor, _owner, actor, category = make_shop()
    data = shirt_data(category.id)
    data["texts"]["de"] = {"title": "Leinenhemd", "description": ""}
    product = catalog.create_product(actor, data)
    db.session.commit()

    catalog.update_product(actor, product.id, {"texts": {"de": {"title": "", "description": ""}}})
    db.session.commit()

    assert _count(ProductTranslation) == 0
    assert catalog.snapshot(product)["texts"] == {"en": {
        "title": "Linen Shirt", "description": "<p>Soft <strong>linen</strong>.</p>"}}


def test_staff_may_edit_the_catalog_but_only_owners_and_managers_archive(app):
    vendor, _owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    _staff, staff = make_staff(vendor)
    _manager, manager = make_staff(vendor, MemberRole.MANAGER)

    catalog.update_product(staff, product.id, {"attributes": {"fit": "loose"}})
    with pytest.raises(PermissionDenied) as refused:
        catalog.archive_product(staff, product.id)
    catalog.archive_product(manager, product.id)

    assert product.attributes == {"fit": "loose"}
    assert refused.value.message == "Only owners and managers can archive or restore products."
    assert product.status == ProductStatus.ARCHIVED


def test_status_moves_that_the_lifecycle_forbids_are_conflicts(app):
    _vendor, _owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))

    with pytest.raises(Conflict) as withdraw:
        catalog.withdraw_product(actor, product.id)
    catalog.archive_product(actor, product.id)
    with pytest.raises(Conflict) as submit:
        catalog.submit_product(actor, product.id)
    with pytest.raises(Conflict) as edit:
        catalog.update_product(actor, product.id, {"attributes": {}})

    assert withdraw.value.message == "Only products awaiting review can be withdrawn."
    assert submit.value.message == "Only drafts and rejected products can be sent for review."
    assert edit.value.message == "This product is archived; restore it before editing."


# --- Portal --------------------------------------------------------------------------------


def _form(category_id: int, **fields) -> dict:
    form = {
        "category_id": str(category_id), "title-en": "Canvas Bag",
        "description-en": "<p>Strong <em>canvas</em>.</p>", "title-de": "", "description-de": "",
        "attributes": "material: canvas", "option-name-0": "Colour",
        "option-values-0": "green, sand", "option-name-1": "", "option-values-1": "",
        "option-name-2": "", "option-values-2": "", "sku_prefix": "BAG",
        "default_price": "19.90", "variant_count": "2",
        "variant-0-id": "", "variant-0-options": '{"colour": "green"}', "variant-0-sku": "BAG-G",
        "variant-0-price": "19.90", "variant-0-compare_at": "", "variant-0-weight": "400",
        "variant-1-id": "", "variant-1-options": '{"colour": "sand"}', "variant-1-sku": "BAG-S",
        "variant-1-price": "21,50", "variant-1-compare_at": "25", "variant-1-weight": "",
        "action": "save",
    }
    form.update(fields)
    return form


def test_the_portal_form_creates_a_draft_and_confirms_it(client, post_form):
    _vendor, owner, _actor, category = make_shop()
    db.session.commit()
    log_in(client, owner)

    answer = post_form("/vendor/products/new", _form(category.id))

    product = db.session.scalars(select(Product)).one()
    assert answer.headers["Location"] == f"/vendor/products/{product.id}"
    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "The product is saved as a draft. Add photos, then send it for review."]
    assert (product.title, product.status, product.option_types) == (
        "Canvas Bag", ProductStatus.DRAFT, [{"name": "colour", "values": ["green", "sand"]}])
    assert [(v.sku, v.price_minor, v.compare_at_minor, v.weight_grams) for v in
            product.variants] == [("BAG-G", 1_990, None, 400), ("BAG-S", 2_150, 2_500, None)]
    listing = client.get("/vendor/products").get_data(as_text=True)
    assert "Canvas Bag" in listing and "Draft" in text(listing)


def test_updating_the_variant_rows_generates_every_combination(client, post_form):
    _vendor, owner, _actor, category = make_shop()
    db.session.commit()
    log_in(client, owner)

    page = post_form("/vendor/products/new", _form(
        category.id, **{"option-name-1": "Size", "option-values-1": "S, L",
                        "action": "generate"})).get_data(as_text=True)

    assert 'name="variant_count" value="4"' in page
    assert re.findall(r'name="variant-\d-sku" value="([^"]*)"', page) == [
        "BAG-GREEN-S", "BAG-GREEN-L", "BAG-SAND-S", "BAG-SAND-L"]
    assert _count(Product) == 0


def test_updating_the_rows_keeps_what_was_typed_in_rows_whose_options_remain(client, post_form):
    _vendor, owner, _actor, category = make_shop()
    db.session.commit()
    log_in(client, owner)

    page = post_form("/vendor/products/new", _form(
        category.id, **{"option-values-0": "green, sand, red", "action": "generate"})
    ).get_data(as_text=True)

    assert re.findall(r'name="variant-\d-sku" value="([^"]*)"', page) == [
        "BAG-G", "BAG-S", "BAG-RED"]
    assert re.findall(r'name="variant-\d-price" value="([^"]*)"', page) == [
        "19.90", "21,50", "19.90"]


def test_the_portal_shows_price_and_sku_errors_next_to_the_row(client, post_form):
    vendor, owner, _actor, category = make_shop()
    make_variant(vendor, sku="BAG-S")
    db.session.commit()
    log_in(client, owner)

    bad_price = post_form("/vendor/products/new", _form(category.id, **{
        "variant-0-price": "-3"}))
    taken_sku = post_form("/vendor/products/new", _form(category.id))

    assert bad_price.status_code == 422
    assert field_error(bad_price.get_data(as_text=True), "variants.0.price_minor") == (
        "Must be greater than or equal to 0 and less than or equal to 100000000.")
    assert taken_sku.status_code == 422
    assert field_error(taken_sku.get_data(as_text=True), "variants.1.sku") == (
        "The SKU BAG-S is already used by another of your products.")
    assert _count(Product) == 1  # make_variant's own


def test_the_product_list_filters_by_status_and_has_an_empty_state(client):
    _vendor, owner, actor, category = make_shop()
    catalog.create_product(actor, shirt_data(category.id))
    db.session.commit()
    log_in(client, owner)

    drafts = client.get("/vendor/products?status=draft").get_data(as_text=True)
    live = client.get("/vendor/products?status=approved").get_data(as_text=True)

    assert "Linen Shirt" in drafts
    assert "Linen Shirt" not in live and "No products with this status." in live


@pytest.mark.parametrize("price", ["abc", "12.5.0", "NaN", "1e999999999"])
def test_an_unreadable_price_in_the_portal_is_a_field_error(client, post_form, price):
    _vendor, owner, _actor, category = make_shop()
    db.session.commit()
    log_in(client, owner)

    answer = post_form("/vendor/products/new", _form(category.id, **{"variant-0-price": price}))

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "variants.0.price_minor") == (
        "Enter an amount like 12.50.")
    assert _count(Product) == 0


def test_an_unreadable_price_when_editing_is_a_field_error(client, post_form):
    _vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    db.session.commit()
    log_in(client, owner)

    answer = post_form(f"/vendor/products/{product.id}", _form(
        category.id, **{"variant-1-price": "12.5.0"}))

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "variants.1.price_minor") == (
        "Enter an amount like 12.50.")
    assert product.title == "Linen Shirt"


def test_ids_that_are_not_plain_digits_are_field_errors(client, post_form):
    _vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    db.session.commit()
    log_in(client, owner)

    category_answer = post_form("/vendor/products/new", _form("²"))
    variant_answer = post_form(f"/vendor/products/{product.id}", _form(
        category.id, **{"variant-0-id": "²"}))

    assert category_answer.status_code == 422
    assert field_error(category_answer.get_data(as_text=True), "category_id") == (
        "Choose a category.")
    assert variant_answer.status_code == 422
    assert field_error(variant_answer.get_data(as_text=True), "variants.0.id") == (
        "This product has no such variant.")


def test_generating_rows_checks_the_option_limits_first(client, post_form):
    _vendor, owner, _actor, category = make_shop()
    db.session.commit()
    log_in(client, owner)
    thirty = ", ".join(f"v{n}" for n in range(30))

    many = post_form("/vendor/products/new", _form(category.id, **{
        "option-values-0": thirty, "option-name-1": "Size", "option-values-1": "S, M",
        "action": "generate"})).get_data(as_text=True)
    combos = post_form("/vendor/products/new", _form(category.id, **{
        "option-values-0": "a, b, c, d, e", "option-name-1": "Size",
        "option-values-1": ", ".join(f"s{n}" for n in range(11)),
        "option-name-2": "Fit", "option-values-2": "slim, wide", "action": "generate"})
    ).get_data(as_text=True)

    assert field_error(many, "option_types.0.values") == "Use at most 20 values."
    assert 'name="variant_count" value="2"' in many  # the rows as posted, none generated
    assert "These options make more than 100 variants." in text(combos)
    assert 'name="variant_count" value="2"' in combos


def test_editing_a_submitted_product_sends_it_back_to_draft(client, post_form):
    _vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    catalog.submit_product(actor, product.id)
    db.session.commit()
    log_in(client, owner)
    form = _form(category.id, **{"title-en": "Linen Shirt, new cut",
                                 "variant-0-sku": "SHIRT-S", "variant-1-sku": "SHIRT-M",
                                 "variant-0-options": '{"size": "S"}',
                                 "variant-1-options": '{"size": "M"}',
                                 "option-name-0": "Size", "option-values-0": "S, M"})

    answer = post_form(f"/vendor/products/{product.id}", form)

    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "The product is saved and back to draft: send it for review again when it is ready."]
    assert (product.title, product.status) == ("Linen Shirt, new cut", ProductStatus.DRAFT)


def test_editing_a_live_product_stores_only_what_changed(app):
    _vendor, _owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    catalog.submit_product(actor, product.id)
    product.status = ProductStatus.APPROVED
    db.session.flush()
    small, medium = product.variants

    revision = catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Linen Shirt, relaxed", "description":
                         "<p>Soft <strong>linen</strong>.</p>"}},
        "variants": [{"id": medium.id, "sku": "SHIRT-M", "price_minor": 5_200,
                      "compare_at_minor": 5_900, "weight_grams": 220,
                      "options": {"size": "M"}}]})

    assert revision.data == {
        "texts": {"en": {"title": "Linen Shirt, relaxed",
                         "description": "<p>Soft <strong>linen</strong>.</p>"}},
        "variants": [{"id": medium.id, "price_minor": 5_200}]}
    assert (small.price_minor, medium.price_minor) == (4_900, 4_900)
