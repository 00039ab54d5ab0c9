"""Inventory in the portal: adjustments and their movements, refusals, locations, low stock."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import OutboxJob
from tests.factories import make_vendor
from tests.vendors.factories import make_location, make_member, make_person, make_variant, set_stock
from tests.vendors.pages import cell, field_error, flashes, log_in, rows
from vendors import inventory
from vendors.access import Actor
from vendors.errors import InsufficientStock, InvalidInput, UnknownReference
from vendors.models import (
    MemberRole,
    MovementReason,
    ProductStatus,
    StockLevel,
    StockLocation,
    StockMovement,
    VendorMembership,
)


@pytest.fixture
def shop(app):
    """An owner logged-in-able, a vendor, a warehouse and a variant with 5 on hand."""
    owner = make_person("owner@example.com", name="Olga Owner")
    vendor = make_vendor("Nordic Goods", owner=owner)
    berlin = make_location(vendor, "Berlin warehouse")
    variant = make_variant(vendor, sku="SHIRT-M")
    set_stock(variant, berlin, on_hand=5)
    db.session.commit()
    return owner, vendor, berlin, variant


def _actor(user) -> Actor:
    membership = db.session.scalars(
        select(VendorMembership).where(VendorMembership.user_id == user.id)).one()
    return Actor.member(membership)


def _level(variant, location) -> tuple[int, int]:
    level = db.session.scalars(select(StockLevel).where(
        StockLevel.variant_id == variant.id, StockLevel.location_id == location.id)).one()
    return level.on_hand, level.reserved


def _movements() -> list[tuple]:
    return [(m.delta, m.on_hand_after, m.reason, m.note) for m in db.session.scalars(
        select(StockMovement).order_by(StockMovement.id))]


def _outbox() -> list[tuple]:
    return [(job.queue, job.func, job.args) for job in db.session.scalars(
        select(OutboxJob).order_by(OutboxJob.id))]


# --- Adjusting through the portal ----------------------------------------------------------


def test_receiving_stock_adds_units_and_records_who_did_it(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    log_in(client, owner)

    answer = post_form(f"/vendor/variants/{variant.id}/adjust", {
        "location_id": berlin.id, "reason": "received", "quantity": "7", "note": "PO 1042"})

    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/vendor/variants/{variant.id}"
    assert _level(variant, berlin) == (12, 0)
    movement = db.session.scalars(select(StockMovement)).one()
    assert (movement.delta, movement.on_hand_after, movement.reason, movement.note,
            movement.user_id, movement.token_id) == (7, 12, MovementReason.RECEIVED, "PO 1042",
                                                     owner.id, None)
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Stock of SHIRT-M at Berlin warehouse is now 12." in flashes(page)
    assert cell(page, "location", berlin.id, "on-hand") == "12"
    assert cell(page, "movement", movement.id, "delta") == "+7"


def test_damaged_units_are_removed(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    log_in(client, owner)

    post_form(f"/vendor/variants/{variant.id}/adjust",
              {"location_id": berlin.id, "reason": "damaged", "quantity": "2"})

    assert _level(variant, berlin) == (3, 0)
    assert _movements() == [(-2, 3, MovementReason.DAMAGED, "")]


def test_a_count_correction_sets_the_counted_quantity_and_records_the_difference(shop):
    owner, vendor, berlin, variant = shop

    inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                           reason="count_correction", quantity=8, note="Stocktake")
    inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                           reason="count_correction", quantity=8)
    db.session.commit()

    assert _level(variant, berlin) == (8, 0)
    # The second count confirmed the figure: recorded with a difference of 0.
    assert _movements() == [(3, 8, MovementReason.COUNT_CORRECTION, "Stocktake"),
                            (0, 8, MovementReason.COUNT_CORRECTION, "")]


def test_the_first_adjustment_at_a_location_creates_its_level(shop):
    owner, vendor, berlin, variant = shop
    hamburg = make_location(vendor, "Hamburg store", priority=1)
    db.session.commit()

    inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=hamburg.id,
                           reason="received", quantity=4)
    db.session.commit()

    assert _level(variant, hamburg) == (4, 0)
    assert _level(variant, berlin) == (5, 0)


def test_each_adjustment_asks_for_its_product_to_be_reindexed(shop):
    owner, vendor, berlin, variant = shop

    inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                           reason="received", quantity=1)
    db.session.commit()

    assert _outbox() == [("search", "vendors.search.reindex_products", [[variant.product_id]])]


# --- Refusals: a 4xx naming the field, and nothing written -----------------------------------


def test_removing_more_than_is_free_of_reservations_is_refused(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    level = db.session.scalars(select(StockLevel)).one()
    level.reserved = 3
    db.session.commit()
    log_in(client, owner)

    answer = post_form(f"/vendor/variants/{variant.id}/adjust",
                       {"location_id": berlin.id, "reason": "damaged", "quantity": "3"})

    assert answer.status_code == 409
    assert field_error(answer.get_data(as_text=True), "quantity") == (
        "Berlin warehouse has 5 on hand and 3 of them are reserved for orders, so at most 2 "
        "can be removed.")
    assert _level(variant, berlin) == (5, 3)
    assert _movements() == [] and _outbox() == []


def test_removing_more_than_is_on_hand_is_refused(shop):
    owner, vendor, berlin, variant = shop

    with pytest.raises(InsufficientStock) as refused:
        inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                               reason="damaged", quantity=6)

    assert (refused.value.field, refused.value.message) == (
        "quantity", "Berlin warehouse has only 5 on hand, so at most 5 can be removed.")


def test_a_count_below_the_reserved_units_is_refused(shop):
    owner, vendor, berlin, variant = shop
    db.session.scalars(select(StockLevel)).one().reserved = 2
    db.session.commit()

    with pytest.raises(InsufficientStock) as refused:
        inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                               reason="count_correction", quantity=1)
    db.session.rollback()

    assert refused.value.field == "quantity"
    assert refused.value.message.startswith("2 units at Berlin warehouse are reserved")
    assert _level(variant, berlin) == (5, 2)


@pytest.mark.parametrize(("quantity", "message"), [
    ("-3", "Enter a whole number from 0 to 1,000,000."),
    ("1000001", "Enter a whole number from 0 to 1,000,000."),
    ("2.5", "Not a valid integer value."),
    ("lots", "Not a valid integer value."),
    ("", "This field is required."),
])
def test_absurd_quantities_are_refused_next_to_the_quantity(client, post_form, shop, quantity,
                                                            message):
    owner, vendor, berlin, variant = shop
    log_in(client, owner)

    answer = post_form(f"/vendor/variants/{variant.id}/adjust",
                       {"location_id": berlin.id, "reason": "received", "quantity": quantity})

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "quantity") == message
    assert _level(variant, berlin) == (5, 0)
    assert _movements() == []


def test_receiving_zero_units_is_refused(shop):
    owner, vendor, berlin, variant = shop

    with pytest.raises(InvalidInput) as refused:
        inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                               reason="received", quantity=0)

    assert (refused.value.field, refused.value.message) == (
        "quantity", "Enter a whole number from 1 to 1,000,000.")


def test_a_level_never_grows_past_the_maximum(shop):
    owner, vendor, berlin, variant = shop
    db.session.scalars(select(StockLevel)).one().on_hand = inventory.MAX_ON_HAND - 1
    db.session.commit()

    with pytest.raises(InvalidInput) as refused:
        inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                               reason="received", quantity=2)

    assert refused.value.field == "quantity"
    assert refused.value.message == ("That would put more than 100,000,000 units on hand at "
                                      "Berlin warehouse.")


def test_another_vendors_location_is_not_a_choice(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    theirs = make_location(make_vendor("Other Shop"), "Their warehouse")
    db.session.commit()
    log_in(client, owner)

    answer = post_form(f"/vendor/variants/{variant.id}/adjust",
                       {"location_id": theirs.id, "reason": "received", "quantity": "1"})

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "location_id") == "Not a valid choice."
    assert db.session.scalar(select(func.count()).select_from(StockLevel)) == 1


def test_unknown_variants_and_locations_are_named_in_the_refusal(shop):
    owner, vendor, berlin, variant = shop
    other = make_vendor("Other Shop")
    their_variant = make_variant(other)
    db.session.commit()

    with pytest.raises(UnknownReference) as unknown_variant:
        inventory.adjust_stock(_actor(owner), variant_id=their_variant.id,
                               location_id=berlin.id, reason="received", quantity=1)
    with pytest.raises(UnknownReference) as unknown_location:
        inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=987654,
                               reason="received", quantity=1)
    with pytest.raises(InvalidInput) as bad_reason:
        inventory.adjust_stock(_actor(owner), variant_id=variant.id, location_id=berlin.id,
                               reason="stolen", quantity=1)

    assert unknown_variant.value.field == "variant_id"
    assert unknown_location.value.field == "location_id"
    assert bad_reason.value.field == "reason"


def test_movements_are_append_only(shop):
    owner, vendor, berlin, variant = shop
    movement = inventory.adjust_stock(_actor(owner), variant_id=variant.id,
                                      location_id=berlin.id, reason="received", quantity=1)
    db.session.commit()

    movement.note = "rewritten history"
    with pytest.raises(TypeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(movement)
    with pytest.raises(TypeError, match="append-only"):
        db.session.flush()
    db.session.rollback()

    assert _movements() == [(1, 6, MovementReason.RECEIVED, "")]


# --- Concurrency ---------------------------------------------------------------------------


def _needs_postgres(app) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the PostgreSQL run covers row-level races")


def _in_threads(app, count: int, work) -> list[object]:
    """Run ``work()`` in ``count`` threads that start together; each gets its own session."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        with app.app_context(), app.test_request_context():
            barrier.wait()
            try:
                work()
                db.session.commit()
                results[index] = "ok"
            except Exception as error:  # collected and asserted by the test
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.postgres_only
def test_concurrent_receipts_lose_no_update(app, shop):
    _needs_postgres(app)
    owner, vendor, berlin, variant = shop
    actor = _actor(owner)
    ids = (variant.id, berlin.id)
    db.session.remove()

    results = _in_threads(app, 12, lambda: inventory.adjust_stock(
        actor, variant_id=ids[0], location_id=ids[1], reason="received", quantity=1))

    assert results == ["ok"] * 12
    assert _level(variant, berlin) == (17, 0)
    assert sorted(after for _d, after, _r, _n in _movements()) == list(range(6, 18))


@pytest.mark.postgres_only
def test_concurrent_removals_never_go_below_zero(app, shop):
    _needs_postgres(app)
    owner, vendor, berlin, variant = shop
    actor = _actor(owner)
    ids = (variant.id, berlin.id)
    db.session.remove()

    results = _in_threads(app, 9, lambda: inventory.adjust_stock(
        actor, variant_id=ids[0], location_id=ids[1], reason="damaged", quantity=1))

    assert results.count("ok") == 5
    assert [type(r) for r in results if r != "ok"] == [InsufficientStock] * 4
    assert _level(variant, berlin) == (0, 0)
    assert len(_movements()) == 5


# --- Reading stock -------------------------------------------------------------------------


def test_the_stock_page_shows_reserved_beside_on_hand(client, shop):
    owner, vendor, berlin, variant = shop
    hamburg = make_location(vendor, "Hamburg store", priority=1)
    set_stock(variant, hamburg, on_hand=4, reserved=3)
    db.session.commit()
    log_in(client, owner)

    everywhere = client.get("/vendor/stock").get_data(as_text=True)
    in_hamburg = client.get(f"/vendor/stock?location_id={hamburg.id}").get_data(as_text=True)

    assert [cell(everywhere, "variant", variant.id, c)
            for c in ("on-hand", "reserved", "available")] == ["9", "3", "6"]
    assert [cell(in_hamburg, "variant", variant.id, c)
            for c in ("on-hand", "reserved", "available")] == ["4", "3", "1"]


def test_the_stock_page_searches_skus_and_titles(client, shop):
    owner, vendor, berlin, variant = shop
    mug = make_variant(vendor, sku="MUG-100%", title="Stoneware Mug")
    db.session.commit()
    log_in(client, owner)

    by_sku = client.get("/vendor/stock?q=mug-100%25").get_data(as_text=True)
    by_title = client.get("/vendor/stock?q=stoneware").get_data(as_text=True)
    nothing = client.get("/vendor/stock?q=teapot").get_data(as_text=True)

    assert rows(by_sku, "variant") == [mug.id]
    assert rows(by_title, "variant") == [mug.id]
    assert rows(nothing, "variant") == [] and "Nothing matches these filters." in nothing


def test_the_low_stock_list_uses_each_variants_threshold_or_the_shops(client, shop):
    owner, vendor, berlin, variant = shop  # 5 available: not low with the default of 3
    nearly_out = make_variant(vendor, sku="NEARLY-OUT")
    set_stock(nearly_out, berlin, on_hand=2)
    watched = make_variant(vendor, sku="WATCHED")
    watched.low_stock_threshold = 10
    set_stock(watched, berlin, on_hand=9)
    archived = make_variant(vendor, sku="OLD", status=ProductStatus.ARCHIVED)
    set_stock(archived, berlin, on_hand=0)
    db.session.commit()
    log_in(client, owner)

    page = client.get("/vendor/stock/low").get_data(as_text=True)

    assert rows(page, "variant") == [nearly_out.id, watched.id]
    assert inventory.low_stock_count(vendor.id) == 2


def test_owners_set_the_default_and_a_variants_threshold(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    log_in(client, owner)

    default = post_form("/vendor/stock/default-threshold", {"threshold": "5"})
    own = post_form(f"/vendor/variants/{variant.id}/threshold", {"threshold": "1"})
    cleared = post_form(f"/vendor/variants/{variant.id}/threshold", {"threshold": ""})
    refused = post_form("/vendor/stock/default-threshold", {"threshold": "-1"})

    assert [default.status_code, own.status_code, cleared.status_code] == [303, 303, 303]
    assert refused.status_code == 422
    assert field_error(refused.get_data(as_text=True), "threshold") == (
        "Use a whole number from 0 to 1,000,000.")
    db.session.refresh(vendor)
    db.session.refresh(variant)
    assert (vendor.low_stock_threshold, variant.low_stock_threshold) == (5, None)
    assert inventory.low_stock_count(vendor.id) == 1


def test_the_movement_history_lists_newest_first_with_who_and_why(client, shop):
    owner, vendor, berlin, variant = shop
    actor = _actor(owner)
    first = inventory.adjust_stock(actor, variant_id=variant.id, location_id=berlin.id,
                                   reason="received", quantity=10, note="Delivery")
    second = inventory.adjust_stock(actor, variant_id=variant.id, location_id=berlin.id,
                                    reason="damaged", quantity=1, note="Dropped")
    db.session.commit()
    log_in(client, owner)

    page = client.get("/vendor/stock/movements").get_data(as_text=True)
    damaged_only = client.get("/vendor/stock/movements?reason=damaged").get_data(as_text=True)

    assert rows(page, "movement") == [second.id, first.id]
    assert cell(page, "movement", second.id, "delta") == "-1"
    assert cell(page, "movement", second.id, "note") == "Dropped"
    assert rows(damaged_only, "movement") == [second.id]


def test_empty_lists_say_so(client, app):
    owner = make_person()
    make_vendor("Empty Shop", owner=owner)
    db.session.commit()
    log_in(client, owner)

    pages = {path: client.get(path).get_data(as_text=True) for path in (
        "/vendor/stock", "/vendor/stock/low", "/vendor/stock/movements", "/vendor/locations",
        "/vendor/products")}

    assert "You have no products with variants yet" in pages["/vendor/stock"]
    assert "Nothing is low on stock." in pages["/vendor/stock/low"]
    assert "No stock movements yet." in pages["/vendor/stock/movements"]
    assert "No stock locations yet." in pages["/vendor/locations"]
    assert "No products yet." in pages["/vendor/products"]


def test_long_lists_are_paginated(client, shop):
    owner, vendor, berlin, variant = shop
    for n in range(22):
        make_variant(vendor, sku=f"BULK-{n:02d}", title="Bulk Item")
    db.session.commit()
    log_in(client, owner)

    first = client.get("/vendor/stock").get_data(as_text=True)
    second = client.get("/vendor/stock?page=2").get_data(as_text=True)

    assert len(rows(first, "variant")) == 20 and len(rows(second, "variant")) == 3
    assert 'rel="next" href="/vendor/stock?page=2&amp;per_page=20"' in first


# --- Locations -----------------------------------------------------------------------------


def test_adding_and_editing_a_location(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    log_in(client, owner)

    added = post_form("/vendor/locations/new", {"name": "Lyon depot", "country": "FR",
                                                "address": "12 Rue Garibaldi", "priority": "2"})
    lyon = db.session.scalars(select(StockLocation).where(StockLocation.name == "Lyon depot")
                              ).one()
    edited = post_form(f"/vendor/locations/{lyon.id}/edit", {
        "name": "Lyon depot", "country": "FR", "address": "14 Rue Garibaldi", "priority": "0"})

    assert (added.status_code, edited.status_code) == (303, 303)
    db.session.refresh(lyon)
    assert (lyon.vendor_id, lyon.country, lyon.address, lyon.priority) == (
        vendor.id, "FR", "14 Rue Garibaldi", 0)
    page = client.get("/vendor/locations").get_data(as_text=True)
    assert rows(page, "location") == [berlin.id, lyon.id]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": "berlin WAREHOUSE"}, "name", "You already have a location with this name."),
    ({"name": ""}, "name", "This field is required."),
    ({"country": "XX"}, "country", "Not a valid choice."),
    ({"priority": "1001"}, "priority", "Use a whole number from 0 to 1000."),
    ({"priority": "-1"}, "priority", "Use a whole number from 0 to 1000."),
])
def test_a_bad_location_is_refused_naming_the_field(client, post_form, shop, changes, field,
                                                    message):
    owner, vendor, berlin, variant = shop
    log_in(client, owner)

    answer = post_form("/vendor/locations/new",
                       {"name": "Lyon depot", "country": "FR", "priority": "0"} | changes)

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), field) == message
    assert db.session.scalar(select(func.count()).select_from(StockLocation)) == 1


def test_staff_see_locations_but_cannot_add_them(client, post_form, shop):
    owner, vendor, berlin, variant = shop
    clerk = make_member(vendor, MemberRole.STAFF)
    db.session.commit()
    log_in(client, clerk)

    listing = client.get("/vendor/locations").get_data(as_text=True)
    refused = post_form("/vendor/locations/new", {"name": "Mine", "country": "DE",
                                                  "priority": "0"})

    assert rows(listing, "location") == [berlin.id] and "Add a location" not in listing
    assert refused.status_code == 403
    assert "Only owners and managers can add or edit stock locations." in refused.get_data(
        as_text=True)
