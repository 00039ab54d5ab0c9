"""Catalog editing through the vendor API: the same services and rules as the portal."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from marketplace.extensions import db
from tests.vendors.catalog_factories import make_shop, png_bytes, shirt_data
from tests.vendors.factories import make_token, make_variant
from vendors import moderation
from vendors.models import Product, ProductImage, ProductStatus, Variant


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _api_shop(scopes=("catalog:read", "catalog:write")):
    vendor, owner, actor, category = make_shop()
    _token, secret = make_token(vendor, scopes)
    db.session.commit()
    return vendor, category, _auth(secret)


def test_a_product_is_created_with_generated_variants(client):
    _vendor, category, headers = _api_shop()
    body = shirt_data(category.id, option_types=[{"name": "Size", "values": ["S", "M", "L"]}],
                      generate_variants={"sku_prefix": "shirt", "price_minor": 4_900})
    del body["variants"]

    answer = client.post("/api/v1/vendor/products", headers=headers, json=body)

    assert answer.status_code == 201
    assert (answer.json["status"], answer.json["title"], answer.json["option_types"]) == (
        "draft", "Linen Shirt", [{"name": "size", "values": ["S", "M", "L"]}])
    assert [(v["sku"], v["attributes"], v["price_minor"], v["currency"])
            for v in answer.json["variants"]] == [
        ("SHIRT-S", {"size": "S"}, 4_900, "EUR"), ("SHIRT-M", {"size": "M"}, 4_900, "EUR"),
        ("SHIRT-L", {"size": "L"}, 4_900, "EUR")]


def test_bad_input_names_the_field_and_writes_nothing(client):
    vendor, category, headers = _api_shop()
    make_variant(vendor, sku="SHIRT-S")
    db.session.commit()
    before = (_count(Product), _count(Variant))
    negative = shirt_data(category.id)
    negative["variants"][0]["price_minor"] = -100

    duplicate = client.post("/api/v1/vendor/products", headers=headers,
                            json=shirt_data(category.id))
    bad_price = client.post("/api/v1/vendor/products", headers=headers, json=negative)
    no_category = client.post("/api/v1/vendor/products", headers=headers,
                              json=shirt_data(999_999))
    no_title = client.post("/api/v1/vendor/products", headers=headers,
                           json=shirt_data(category.id, texts={"en": {"title": " "}}))

    assert duplicate.status_code == 422
    assert duplicate.json["error"]["fields"] == {
        "variants.0.sku": ["The SKU SHIRT-S is already used by another of your products."]}
    assert bad_price.json["error"]["fields"] == {"variants": {"0": {"price_minor": [
        "Must be greater than or equal to 0 and less than or equal to 100000000."]}}}
    assert no_category.json["error"]["fields"] == {"category_id": ["There is no such category."]}
    assert no_title.json["error"]["fields"] == {"texts.en.title": ["Give the product a title."]}
    assert (_count(Product), _count(Variant)) == before


def test_writing_needs_the_catalog_write_scope(client):
    _vendor, category, headers = _api_shop(scopes=("catalog:read",))

    answer = client.post("/api/v1/vendor/products", headers=headers, json=shirt_data(category.id))

    assert answer.status_code == 403
    assert answer.json["error"]["message"] == (
        "This token doesn't have the scope this needs: catalog:write.")
    assert _count(Product) == 0


def test_a_live_products_edit_waits_for_review_in_the_api_too(client):
    _vendor, category, headers = _api_shop()
    created = client.post("/api/v1/vendor/products", headers=headers,
                          json=shirt_data(category.id)).json
    submitted = client.post(f"/api/v1/vendor/products/{created['id']}/submit", headers=headers)
    moderation.approve_product(created["id"])
    db.session.commit()

    edit = client.patch(f"/api/v1/vendor/products/{created['id']}", headers=headers,
                        json={"texts": {"en": {"title": "Linen Shirt II"}}})

    assert submitted.json["status"] == "submitted"
    assert edit.status_code == 200
    assert (edit.json["result"], edit.json["product"]["title"], edit.json["product"]["status"],
            edit.json["revision"]["status"]) == (
        "pending_review", "Linen Shirt", "approved", "pending")
    assert edit.json["revision"]["data"]["texts"]["en"]["title"] == "Linen Shirt II"


def test_a_drafts_edit_applies_at_once(client):
    _vendor, category, headers = _api_shop()
    created = client.post("/api/v1/vendor/products", headers=headers,
                          json=shirt_data(category.id)).json

    edit = client.patch(f"/api/v1/vendor/products/{created['id']}", headers=headers, json={
        "variants": [{"id": created["variants"][0]["id"], "sku": "SHIRT-SMALL",
                      "price_minor": 4_500, "options": {"size": "S"}}]})

    assert (edit.json["result"], edit.json["revision"]) == ("applied", None)
    assert [(v["sku"], v["price_minor"]) for v in edit.json["product"]["variants"]] == [
        ("SHIRT-SMALL", 4_500), ("SHIRT-M", 4_900)]


def test_photos_are_uploaded_as_multipart_and_checked_by_content(client):
    _vendor, category, headers = _api_shop()
    created = client.post("/api/v1/vendor/products", headers=headers,
                          json=shirt_data(category.id)).json
    url = f"/api/v1/vendor/products/{created['id']}/images"

    good = client.post(url, headers=headers, content_type="multipart/form-data",
                       data={"image": (io.BytesIO(png_bytes(64, 48)), "front.png")})
    fake = client.post(url, headers=headers, content_type="multipart/form-data",
                       data={"image": (io.BytesIO(b"<svg/>"), "front.png")})
    removed = client.delete(f"/api/v1/vendor/images/{good.json['id']}", headers=headers)

    assert good.status_code == 201
    assert (good.json["width"], good.json["height"], good.json["content_type"]) == (
        64, 48, "image/jpeg")
    assert good.json["url"].startswith("http://localhost/media/products/")
    assert fake.status_code == 422
    assert fake.json["error"]["fields"] == {"image": [
        "This file is not a JPEG, PNG or WebP photo (SVG and other formats are not "
        "accepted)."]}
    assert removed.status_code == 204 and _count(ProductImage) == 0


def test_archiving_and_restoring_through_the_api(client):
    _vendor, category, headers = _api_shop()
    created = client.post("/api/v1/vendor/products", headers=headers,
                          json=shirt_data(category.id)).json

    archived = client.post(f"/api/v1/vendor/products/{created['id']}/archive", headers=headers)
    again = client.post(f"/api/v1/vendor/products/{created['id']}/archive", headers=headers)
    restored = client.post(f"/api/v1/vendor/products/{created['id']}/restore", headers=headers)

    assert archived.json["status"] == "archived"
    assert again.status_code == 409
    assert again.json["error"]["message"] == "This product can't be archived now."
    assert restored.json["status"] == ProductStatus.DRAFT.value


def test_a_patch_error_names_the_index_of_the_variant_sent(client):
    _vendor, category, headers = _api_shop()
    created = client.post("/api/v1/vendor/products", headers=headers,
                          json=shirt_data(category.id)).json

    edit = client.patch(f"/api/v1/vendor/products/{created['id']}", headers=headers, json={
        "variants": [{"id": 999_999, "sku": "SHIRT-X", "price_minor": 100,
                      "options": {"size": "S"}}]})

    assert edit.status_code == 422
    assert edit.json["error"]["fields"] == {"variants.0.id": ["This product has no such variant."]}


def test_generating_variants_in_a_patch_keeps_the_existing_ones_and_adds_the_rest(client):
    _vendor, category, headers = _api_shop()
    created = client.post("/api/v1/vendor/products", headers=headers,
                          json=shirt_data(category.id)).json
    small_id, medium_id = (v["id"] for v in created["variants"])

    edit = client.patch(f"/api/v1/vendor/products/{created['id']}", headers=headers, json={
        "option_types": [{"name": "Size", "values": ["S", "M", "L"]}],
        "generate_variants": {"sku_prefix": "tee", "price_minor": 5_500}})

    assert edit.status_code == 200
    variants = edit.json["product"]["variants"]
    assert [(v["sku"], v["price_minor"], v["attributes"]) for v in variants] == [
        ("SHIRT-S", 4_900, {"size": "S"}), ("SHIRT-M", 4_900, {"size": "M"}),
        ("TEE-L", 5_500, {"size": "L"})]
    assert [v["id"] for v in variants][:2] == [small_id, medium_id]
