"""The vendor API: token authentication, scopes, inventory and catalog endpoints, bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import OutboxJob
from tests.factories import make_vendor
from tests.vendors.factories import make_location, make_person, make_token, make_variant, set_stock
from tests.vendors.pages import log_in
from vendors.models import StockLevel, StockLocation, StockMovement, VendorApiToken


@pytest.fixture
def shop(app):
    owner = make_person("owner@example.com", name="Olga Owner")
    vendor = make_vendor("Nordic Goods", owner=owner)
    berlin = make_location(vendor, "Berlin warehouse")
    variant = make_variant(vendor, sku="SHIRT-M", title="Linen Shirt")
    level = set_stock(variant, berlin, on_hand=5, reserved=1)
    token, secret = make_token(vendor)
    db.session.commit()
    return {"owner": owner, "vendor": vendor, "berlin": berlin, "variant": variant,
            "level": level, "token": token, "secret": secret}


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- Authentication ------------------------------------------------------------------------


def test_a_request_without_a_token_is_a_401_that_says_how_to_authenticate(client, shop):
    answer = client.get("/api/v1/vendor/locations")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="vendor-api"'
    assert answer.json["error"]["message"] == (
        "Send a vendor API token in the header 'Authorization: Bearer <token>'.")


def test_an_unknown_token_is_a_401(client, shop):
    answer = client.get("/api/v1/vendor/locations", headers=_auth("mkv_not-a-real-token"))

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="vendor-api", error="invalid_token"'
    assert answer.json["error"]["message"] == "This API token is unknown or was revoked."


def test_the_session_cookie_never_authenticates_the_api(client, shop):
    log_in(client, shop["owner"])
    assert client.get("/vendor/").status_code == 200

    answer = client.get("/api/v1/vendor/locations")

    assert answer.status_code == 401


def test_a_revoked_token_is_refused_on_the_next_request(client, post_form, shop):
    assert client.get("/api/v1/vendor/locations", headers=_auth(shop["secret"])).status_code == 200
    log_in(client, shop["owner"])

    post_form(f"/vendor/api-tokens/{shop['token'].id}/revoke")
    answer = client.get("/api/v1/vendor/locations", headers=_auth(shop["secret"]))

    assert answer.status_code == 401


def test_the_last_use_of_a_token_is_recorded(client, shop):
    assert shop["token"].last_used_at is None

    client.get("/api/v1/vendor/locations", headers=_auth(shop["secret"]))

    db.session.refresh(shop["token"])
    assert shop["token"].last_used_at is not None


def test_a_token_without_the_scope_gets_a_403_naming_it(client, shop):
    _token, read_only = make_token(shop["vendor"], ("inventory:read",), name="Reporting")
    _token, catalog = make_token(shop["vendor"], ("catalog:read",), name="Feed")
    db.session.commit()

    write = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(read_only), json={
        "variant_id": shop["variant"].id, "location_id": shop["berlin"].id,
        "reason": "received", "quantity": 1})
    read = client.get("/api/v1/vendor/stock-levels", headers=_auth(catalog))

    assert write.status_code == 403
    assert write.json["error"]["message"] == (
        "This token doesn't have the scope this needs: inventory:write.")
    assert read.status_code == 403
    assert read.json["error"]["message"] == (
        "This token doesn't have the scope this needs: inventory:read or inventory:write.")
    assert _count(StockMovement) == 0


# --- Inventory -----------------------------------------------------------------------------


def test_adjusting_stock_returns_the_movement_and_the_level(client, shop):
    answer = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]), json={
        "variant_id": shop["variant"].id, "location_id": shop["berlin"].id,
        "reason": "received", "quantity": 10, "note": "ASN 77"})

    assert answer.status_code == 201
    movement = answer.json["movement"]
    assert {k: movement[k] for k in ("variant_id", "sku", "location_id", "reason", "delta",
                                     "on_hand_after", "note", "user_id", "token_id")} == {
        "variant_id": shop["variant"].id, "sku": "SHIRT-M", "location_id": shop["berlin"].id,
        "reason": "received", "delta": 10, "on_hand_after": 15, "note": "ASN 77",
        "user_id": None, "token_id": shop["token"].id}
    assert {k: answer.json["level"][k] for k in ("on_hand", "reserved", "available")} == {
        "on_hand": 15, "reserved": 1, "available": 14}
    jobs = db.session.scalars(select(OutboxJob)).all()
    assert [(j.func, j.args) for j in jobs] == [
        ("vendors.search.reindex_products", [[shop["variant"].product_id]])]


def test_missing_fields_are_a_422_naming_each_and_nothing_is_written(client, shop):
    answer = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]),
                         json={"note": "forgot everything"})

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {
        "variant_id": ["Missing data for required field."],
        "location_id": ["Missing data for required field."],
        "reason": ["Missing data for required field."],
        "quantity": ["Missing data for required field."],
    }
    assert _count(StockMovement) == 0


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"quantity": -4}, "quantity",
     "Must be greater than or equal to 0 and less than or equal to 1000000."),
    ({"quantity": 10**12}, "quantity",
     "Must be greater than or equal to 0 and less than or equal to 1000000."),
    ({"quantity": "5"}, "quantity", "Not a valid integer."),
    ({"quantity": 2.5}, "quantity", "Not a valid integer."),
    ({"reason": "stolen"}, "reason",
     "Must be one of: received, damaged, count_correction."),
    # Sales and cancellations are recorded by orders, never typed in.
    ({"reason": "sale"}, "reason",
     "Must be one of: received, damaged, count_correction."),
    ({"colour": "red"}, "colour", "Unknown field."),
])
def test_bad_values_are_a_422_naming_the_field(client, shop, changes, field, message):
    body = {"variant_id": shop["variant"].id, "location_id": shop["berlin"].id,
            "reason": "received", "quantity": 1} | changes

    answer = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]),
                         json=body)

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {field: [message]}
    assert _count(StockMovement) == 0


def test_another_vendors_variant_or_location_is_unknown(client, shop):
    other = make_vendor("Other Shop")
    their_variant = make_variant(other)
    their_location = make_location(other, "Their warehouse")
    db.session.commit()

    variant = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]),
                          json={"variant_id": their_variant.id, "location_id": shop["berlin"].id,
                                "reason": "received", "quantity": 1})
    location = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]),
                           json={"variant_id": shop["variant"].id,
                                 "location_id": their_location.id,
                                 "reason": "received", "quantity": 1})

    assert (variant.status_code, location.status_code) == (422, 422)
    assert variant.json["error"]["fields"] == {"variant_id": ["You have no variant with this id."]}
    assert location.json["error"]["fields"] == {
        "location_id": ["You have no stock location with this id."]}
    assert _count(StockMovement) == 0
    assert _count(StockLevel) == 1


def test_a_decrease_below_the_reserved_units_is_a_409_and_changes_nothing(client, shop):
    answer = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]), json={
        "variant_id": shop["variant"].id, "location_id": shop["berlin"].id,
        "reason": "damaged", "quantity": 5})

    assert answer.status_code == 409
    assert answer.json["error"]["fields"] == {"quantity": [
        "Berlin warehouse has 5 on hand and 1 of them are reserved for orders, so at most 4 can "
        "be removed."]}
    db.session.refresh(shop["level"])
    assert (shop["level"].on_hand, shop["level"].reserved) == (5, 1)
    assert _count(StockMovement) == 0 and _count(OutboxJob) == 0


def test_a_body_that_is_not_a_json_object_is_a_422(client, shop):
    answer = client.post("/api/v1/vendor/stock-adjustments", headers=_auth(shop["secret"]),
                         data="quantity=1")

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {
        "_": ["Send a JSON object with Content-Type: application/json."]}


def test_locations_are_listed_created_read_and_changed(client, shop):
    headers = _auth(shop["secret"])

    created = client.post("/api/v1/vendor/locations", headers=headers,
                          json={"name": "Lyon depot", "country": "fr", "priority": 3})
    location_id = created.json["id"]
    changed = client.patch(f"/api/v1/vendor/locations/{location_id}", headers=headers,
                           json={"address": "12 Rue Garibaldi", "priority": 0})
    one = client.get(f"/api/v1/vendor/locations/{location_id}", headers=headers)
    listing = client.get("/api/v1/vendor/locations", headers=headers)

    assert created.status_code == 201
    assert {k: one.json[k] for k in ("name", "country", "address", "priority")} == {
        "name": "Lyon depot", "country": "FR", "address": "12 Rue Garibaldi", "priority": 0}
    assert changed.status_code == 200
    assert [item["name"] for item in listing.json["items"]] == ["Berlin warehouse", "Lyon depot"]


def test_a_bad_location_is_a_422_naming_the_field(client, shop):
    headers = _auth(shop["secret"])

    duplicate = client.post("/api/v1/vendor/locations", headers=headers,
                            json={"name": "Berlin Warehouse", "country": "DE"})
    bad_country = client.post("/api/v1/vendor/locations", headers=headers,
                              json={"name": "Nowhere", "country": "XX"})
    bad_patch = client.patch(f"/api/v1/vendor/locations/{shop['berlin'].id}", headers=headers,
                             json={"priority": -1})

    assert duplicate.status_code == 422
    assert duplicate.json["error"]["fields"] == {
        "name": ["You already have a location with this name."]}
    assert bad_country.json["error"]["fields"] == {
        "country": ["Use a two-letter ISO country code such as DE."]}
    assert bad_patch.json["error"]["fields"] == {
        "priority": ["Must be greater than or equal to 0 and less than or equal to 1000."]}
    assert _count(StockLocation) == 1


def test_levels_movements_and_low_stock_are_listed(client, shop):
    headers = _auth(shop["secret"])
    client.post("/api/v1/vendor/stock-adjustments", headers=headers, json={
        "variant_id": shop["variant"].id, "location_id": shop["berlin"].id,
        "reason": "count_correction", "quantity": 3})

    levels = client.get(f"/api/v1/vendor/stock-levels?variant_id={shop['variant'].id}",
                        headers=headers)
    movements = client.get("/api/v1/vendor/stock-movements", headers=headers)
    low = client.get("/api/v1/vendor/low-stock", headers=headers)

    assert [(i["sku"], i["on_hand"], i["reserved"], i["available"])
            for i in levels.json["items"]] == [("SHIRT-M", 3, 1, 2)]
    assert [(i["reason"], i["delta"], i["on_hand_after"]) for i in movements.json["items"]] == [
        ("count_correction", -2, 3)]
    assert low.json["items"] == [{
        "variant_id": shop["variant"].id, "sku": "SHIRT-M",
        "product_id": shop["variant"].product_id, "product_title": "Linen Shirt", "on_hand": 3,
        "reserved": 1, "available": 2, "threshold": 3}]


def test_a_variants_threshold_is_set_and_cleared(client, shop):
    headers = _auth(shop["secret"])
    url = f"/api/v1/vendor/variants/{shop['variant'].id}/low-stock-threshold"

    set_ = client.put(url, headers=headers, json={"threshold": 8})
    cleared = client.put(url, headers=headers, json={"threshold": None})
    refused = client.put(url, headers=headers, json={"threshold": -2})

    assert set_.json["low_stock_threshold"] == 8
    assert cleared.json["low_stock_threshold"] is None
    assert refused.status_code == 422
    assert list(refused.json["error"]["fields"]) == ["threshold"]


# --- Catalog (read-only) -------------------------------------------------------------------


def test_products_and_variants_are_the_tokens_vendors_only(client, shop):
    make_variant(make_vendor("Other Shop"), sku="THEIRS")
    db.session.commit()
    headers = _auth(shop["secret"])

    products = client.get("/api/v1/vendor/products", headers=headers)
    variants = client.get("/api/v1/vendor/variants", headers=headers)
    one = client.get(f"/api/v1/vendor/variants/{shop['variant'].id}", headers=headers)

    assert [(p["title"], [v["sku"] for v in p["variants"]]) for p in products.json["items"]] == [
        ("Linen Shirt", ["SHIRT-M"])]
    assert [v["sku"] for v in variants.json["items"]] == ["SHIRT-M"]
    assert {k: one.json[k] for k in ("sku", "price_minor", "currency")} == {
        "sku": "SHIRT-M", "price_minor": 4900, "currency": "EUR"}


def test_the_openapi_document_describes_the_vendor_api(client):
    spec = client.get("/api/v1/openapi.json").json

    adjust = spec["paths"]["/api/v1/vendor/stock-adjustments"]["post"]
    assert adjust["responses"]["409"] == {"$ref": "#/components/responses/Conflict"}
    assert set(spec["components"]["schemas"]["StockAdjustment"]["properties"]) == {
        "variant_id", "location_id", "reason", "quantity", "note"}
    assert "Authorization: Bearer" in adjust["description"]


def test_tokens_are_stored_only_as_a_hash(shop):
    stored = db.session.scalars(select(VendorApiToken)).one()

    assert shop["secret"].startswith("mkv_") and len(shop["secret"]) == 47
    assert stored.token_hash != shop["secret"] and len(stored.token_hash) == 64
    assert shop["secret"] not in (stored.prefix, stored.token_hash)
    assert stored.prefix == shop["secret"][:10]
