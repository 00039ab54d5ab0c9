"""Vendor A can never read or change vendor B's objects, in the portal or through the API.

The cases are driven by the app's URL map: every ``vendors.*`` and ``vendor_api.*`` rule that
takes an argument must have a case below (or be listed as taking no object id, with the
reason), so a new vendor route added without an isolation case fails
``test_every_vendor_route_with_an_argument_has_an_isolation_case``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.factories import make_vendor
from tests.order_factories import Part, make_method, make_order, make_profile
from tests.vendors.catalog_factories import png_bytes
from tests.vendors.factories import (
    make_location,
    make_member,
    make_person,
    make_token,
    make_variant,
    set_stock,
)
from tests.vendors.pages import log_in
from vendors import images, inventory, staff
from vendors.access import Actor
from vendors.import_models import CatalogTransfer, TransferKind, TransferStatus
from vendors.models import (
    MemberRole,
    Product,
    ProductImage,
    ProductRevision,
    StockLevel,
    StockLocation,
    StockMovement,
    Variant,
    VendorApiToken,
    VendorInvitation,
    VendorMembership,
)
from vendors.order_models import SubOrder
from vendors.shipping_models import ShippingMethod

PREFIXES = ("vendors.", "vendor_api.")


@dataclass(frozen=True)
class Case:
    """How to address one of vendor B's objects through a route.

    ``ids`` maps each URL argument to the key of B's object it takes; ``form``/``json`` is a
    body that would be valid for A's own object, so a 404 can only come from ownership.
    """

    ids: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    json: dict = field(default_factory=dict)


CASES: dict[str, Case] = {
    # Portal (HTML)
    "vendors.inventory.variant": Case({"variant_id": "variant"}),
    "vendors.inventory.adjust": Case({"variant_id": "variant"}, form={
        "location_id": "{a_location}", "reason": "received", "quantity": "3"}),
    "vendors.inventory.threshold": Case({"variant_id": "variant"}, form={"threshold": "9"}),
    "vendors.inventory.edit_location": Case({"location_id": "location"}, form={
        "name": "Taken over", "country": "DE", "address": "", "priority": "0"}),
    "vendors.staff.change_role": Case({"membership_id": "membership"}, form={"role": "owner"}),
    "vendors.staff.remove_member": Case({"membership_id": "membership"}),
    "vendors.staff.revoke_invitation": Case({"invitation_id": "invitation"}),
    "vendors.tokens.revoke": Case({"token_id": "token"}),
    # API (JSON)
    "vendor_api.get_location": Case({"location_id": "location"}),
    "vendor_api.update_location": Case({"location_id": "location"},
                                       json={"name": "Taken over"}),
    "vendor_api.get_level": Case({"level_id": "level"}),
    "vendor_api.get_movement": Case({"movement_id": "movement"}),
    "vendor_api.get_product": Case({"product_id": "product"}),
    "vendor_api.get_variant": Case({"variant_id": "variant"}),
    "vendor_api.set_threshold": Case({"variant_id": "variant"}, json={"threshold": 9}),
    # Catalog editing (products, photos, review)
    "vendors.catalog.edit_product": Case({"product_id": "product"}, form={
        "category_id": "1", "title-en": "Taken over", "action": "save"}),
    "vendors.catalog.submit_product": Case({"product_id": "product"}),
    "vendors.catalog.withdraw_product": Case({"product_id": "product"}),
    "vendors.catalog.archive_product": Case({"product_id": "product"}),
    "vendors.catalog.restore_product": Case({"product_id": "product"}),
    "vendors.catalog.upload_image": Case({"product_id": "product"}),
    "vendors.catalog.image": Case({"image_id": "image"}),
    "vendors.catalog.delete_image": Case({"image_id": "image"}),
    "vendors.catalog.image_earlier": Case({"image_id": "image"}),
    "vendors.catalog.image_later": Case({"image_id": "image"}),
    "vendor_api.update_product": Case({"product_id": "product"},
                                      json={"attributes": {"owner": "alice"}}),
    "vendor_api.submit_product": Case({"product_id": "product"}),
    "vendor_api.withdraw_product": Case({"product_id": "product"}),
    "vendor_api.archive_product": Case({"product_id": "product"}),
    "vendor_api.restore_product": Case({"product_id": "product"}),
    "vendor_api.add_image": Case({"product_id": "product"}),
    "vendor_api.delete_image": Case({"image_id": "image"}),
    # Catalog files (CSV import and export)
    "vendors.imports.import_detail": Case({"transfer_id": "import"}),
    "vendors.imports.confirm": Case({"transfer_id": "import"}),
    "vendors.imports.export_detail": Case({"transfer_id": "export"}),
    "vendors.imports.download": Case({"transfer_id": "export"}),
    "vendor_api.get_import": Case({"transfer_id": "import"}),
    "vendor_api.confirm_import": Case({"transfer_id": "import"}),
    "vendor_api.get_export": Case({"transfer_id": "export"}),
    "vendor_api.export_file": Case({"transfer_id": "export"}),
    # Shipping
    "vendors.shipping.edit_profile": Case({"profile_id": "profile"}, form={
        "name": "Taken over", "countries": "DE", "handling_days": "1"}),
    "vendors.shipping.delete_profile": Case({"profile_id": "profile"}),
    "vendors.shipping.new_method": Case({"profile_id": "profile"}, form={
        "name": "Taken over", "kind": "flat", "base": "1.00", "active": "y"}),
    "vendors.shipping.edit_method": Case({"method_id": "method"}, form={
        "name": "Taken over", "kind": "flat", "base": "1.00", "active": "y"}),
    "vendors.shipping.delete_method": Case({"method_id": "method"}),
    # Orders
    "vendors.orders.detail": Case({"sub_order_id": "sub_order"}),
    "vendors.orders.accept": Case({"sub_order_id": "sub_order"}),
    "vendors.orders.ready": Case({"sub_order_id": "sub_order"}),
    "vendors.orders.reject": Case({"sub_order_id": "sub_order"}, form={"reason": "Taken over"}),
    "vendors.orders.cancel": Case({"sub_order_id": "sub_order"}, form={"reason": "Taken over"}),
    "vendor_api.get_order": Case({"sub_order_id": "sub_order"}),
    "vendor_api.accept_order": Case({"sub_order_id": "sub_order"}),
    "vendor_api.ready_order": Case({"sub_order_id": "sub_order"}),
    "vendor_api.reject_order": Case({"sub_order_id": "sub_order"}, json={"reason": "Taken over"}),
}

# Rules with an argument that is not a vendor-owned object id.
NOT_OBJECT_ROUTES = {
    "vendors.static": "the portal's stylesheet, by file name",
    "vendors.staff.invitation": "a secret invitation token, checked against the invited "
                                "email (tests/vendors/test_staff.py)",
}


def _vendor_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(PREFIXES) and rule.arguments]


def _methods(rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def test_every_vendor_route_with_an_argument_has_an_isolation_case(app):
    rules = _vendor_rules(app)

    uncovered = [rule.endpoint for rule in rules
                 if rule.endpoint not in CASES and rule.endpoint not in NOT_OBJECT_ROUTES]
    stale = (set(CASES) | set(NOT_OBJECT_ROUTES)) - {rule.endpoint for rule in rules}
    mismatched = [rule.endpoint for rule in rules if rule.endpoint in CASES
                  and set(CASES[rule.endpoint].ids) != set(rule.arguments)]

    assert uncovered == [], "add an isolation case for these routes"
    assert stale == set(), "these cases name routes that no longer exist"
    assert mismatched == []


@pytest.fixture
def two_vendors(app):
    """Vendor A (whose owner and token make the requests) and vendor B, each with one of
    every kind of object."""
    alice = make_person("alice@example.com", name="Alice")
    a = make_vendor("Alice's Attic", owner=alice)
    a_location = make_location(a, "Attic store")
    _a_token, a_secret = make_token(a)

    bob = make_person("bob@example.com", name="Bob")
    b = make_vendor("Bob's Bikes", owner=bob)
    b_location = make_location(b, "Bike shed")
    b_variant = make_variant(b, sku="BIKE-1")
    b_level = set_stock(b_variant, b_location, on_hand=4)
    b_staff = make_member(b, MemberRole.STAFF, email="barbara@example.com")
    b_token, b_secret = make_token(b)
    db.session.commit()
    bob_actor = Actor.member(db.session.scalars(select(VendorMembership).where(
        VendorMembership.user_id == bob.id)).one())
    b_movement = inventory.adjust_stock(bob_actor, variant_id=b_variant.id,
                                        location_id=b_location.id, reason="received",
                                        quantity=1)
    b_invitation = staff.invite_member(bob_actor, email="bernd@example.com", role="staff")
    b_image = images.add_image(bob_actor, b_variant.product_id, png_bytes())
    b_image_2 = images.add_image(bob_actor, b_variant.product_id, png_bytes(colour=(0, 0, 0)))
    b_import = CatalogTransfer(vendor_id=b_variant.vendor_id, kind=TransferKind.IMPORT,
                               status=TransferStatus.NEEDS_CONFIRMATION, filename="b.csv",
                               content=b"sku\nBIKE-1\n", errors=[])
    b_export = CatalogTransfer(vendor_id=b_variant.vendor_id, kind=TransferKind.EXPORT,
                               status=TransferStatus.DONE, filename="b-export.csv",
                               content=b"sku\nBIKE-1\n", errors=[])
    db.session.add_all([b_import, b_export])
    b_profile = make_profile(b, name="Bike zone")
    b_method = make_method(b_profile, name="Bike courier")
    b_order = make_order(make_person("bea@example.com"), Part(((b_variant, 1),)),
                         commit_stock=True)
    db.session.commit()
    b_objects = {
        "variant": b_variant.id, "product": b_variant.product_id, "location": b_location.id,
        "level": b_level.id, "movement": b_movement.id, "invitation": b_invitation.id,
        "token": b_token.id, "import": b_import.id, "export": b_export.id,
        "image": b_image.id, "image_2": b_image_2.id,
        "profile": b_profile.id, "method": b_method.id,
        "sub_order": b_order.sub_orders[0].id,
        "membership": db.session.scalars(select(VendorMembership.id).where(
            VendorMembership.user_id == b_staff.id)).one(),
    }
    return {"alice": alice, "a_secret": a_secret, "a_location": a_location.id, "bob": bob,
            "b_secret": b_secret, "b": b_objects}


def _snapshot_of_b(objects: dict[str, int]) -> dict:
    """Everything of B's that a successful foreign request could have changed."""
    def row(model, object_id, *columns):
        obj = db.session.get(model, object_id)
        return tuple(getattr(obj, c) for c in columns)

    db.session.expire_all()
    return {
        "level": row(StockLevel, objects["level"], "on_hand", "reserved"),
        "variant": row(Variant, objects["variant"], "low_stock_threshold"),
        "location": row(StockLocation, objects["location"], "name", "priority"),
        "membership": row(VendorMembership, objects["membership"], "role"),
        "invitation": row(VendorInvitation, objects["invitation"], "revoked_at"),
        "token": row(VendorApiToken, objects["token"], "revoked_at"),
        "product": row(Product, objects["product"], "status", "title", "attributes"),
        "images": [row(ProductImage, image_id, "position")
                   for image_id in (objects["image"], objects["image_2"])],
        "revisions": len(db.session.scalars(select(ProductRevision)).all()),
        "import": row(CatalogTransfer, objects["import"], "status", "import_valid_rows"),
        "movements": len(db.session.scalars(select(StockMovement)).all()),
        "sub_order": row(SubOrder, objects["sub_order"], "status", "rejection_reason"),
        "shipping": [(m.name, m.base_minor, m.profile.name) for m in
                     db.session.scalars(select(ShippingMethod).order_by(ShippingMethod.id))],
    }


def _request(client, rule, method: str, case: Case, values: dict, *, csrf: str | None,
             secret: str | None):
    url = rule.rule
    for argument, key in case.ids.items():
        url = url.replace(f"<int:{argument}>", str(values["b"][key]))
    if rule.endpoint.startswith("vendor_api."):
        headers = {"Authorization": f"Bearer {secret}"}
        body = case.json if method != "GET" else None
        return client.open(url, method=method, headers=headers, json=body)
    form = {k: v.format(**values) for k, v in case.form.items()}
    if method != "GET":
        form["csrf_token"] = csrf
    return client.open(url, method=method, data=form if method != "GET" else None)


def test_vendor_a_gets_a_404_for_every_object_of_vendor_b(app, client, two_vendors):
    from tests.conftest import csrf_token

    before = _snapshot_of_b(two_vendors["b"])
    log_in(client, two_vendors["alice"])
    csrf = csrf_token(client, "/vendor/")
    checked, failures = 0, []

    for rule in _vendor_rules(app):
        case = CASES.get(rule.endpoint)
        if case is None:
            continue
        for method in _methods(rule):
            answer = _request(client, rule, method, case, two_vendors, csrf=csrf,
                              secret=two_vendors["a_secret"])
            checked += 1
            if answer.status_code != 404:
                failures.append((rule.endpoint, method, answer.status_code))

    assert failures == []
    assert checked == sum(len(_methods(r)) for r in _vendor_rules(app) if r.endpoint in CASES)
    assert _snapshot_of_b(two_vendors["b"]) == before


def test_vendor_b_reaches_its_own_objects_through_the_same_addresses(app, client,
                                                                     two_vendors):
    # The control for the test above: the addresses are right, only the owner differs.
    log_in(client, two_vendors["bob"])
    failures = []

    for rule in _vendor_rules(app):
        case = CASES.get(rule.endpoint)
        if case is None or "GET" not in _methods(rule):
            continue
        answer = _request(client, rule, "GET", case, two_vendors, csrf=None,
                          secret=two_vendors["b_secret"])
        if answer.status_code != 200:
            failures.append((rule.endpoint, answer.status_code))

    assert failures == []


def test_switching_to_a_vendor_one_does_not_belong_to_is_a_404(client, post_form, two_vendors):
    log_in(client, two_vendors["alice"])
    bob_vendor_id = db.session.scalars(select(VendorMembership.vendor_id).where(
        VendorMembership.user_id == two_vendors["bob"].id)).one()

    answer = post_form("/vendor/switch", {"vendor_id": bob_vendor_id})

    assert answer.status_code == 404
    assert "<h1>Alice&#39;s Attic</h1>" in client.get("/vendor/").get_data(as_text=True)


def test_lists_and_filters_never_show_another_vendors_rows(client, two_vendors):
    headers = {"Authorization": f"Bearer {two_vendors['a_secret']}"}
    b = two_vendors["b"]
    log_in(client, two_vendors["alice"])

    api_lists = {path: client.get(path, headers=headers).json["items"] for path in (
        "/api/v1/vendor/locations", f"/api/v1/vendor/stock-levels?variant_id={b['variant']}",
        f"/api/v1/vendor/stock-movements?location_id={b['location']}",
        "/api/v1/vendor/products", "/api/v1/vendor/variants", "/api/v1/vendor/low-stock")}
    html = {path: client.get(path).get_data(as_text=True) for path in (
        "/vendor/stock", f"/vendor/stock/movements?variant_id={b['variant']}",
        "/vendor/locations", "/vendor/products", "/vendor/team", "/vendor/api-tokens")}

    assert [item["name"] for item in api_lists.pop("/api/v1/vendor/locations")] == [
        "Attic store"]
    assert all(items == [] for items in api_lists.values()), api_lists
    assert not any(word in page for page in html.values()
                   for word in ("BIKE-1", "Bike shed", "barbara@example.com", "bernd@"))
