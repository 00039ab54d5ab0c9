"""Shipping profiles and methods: the rules, the quote the checkout asks for, the portal pages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.money import Money
from tests.factories import make_vendor
from tests.order_factories import make_method, make_profile
from tests.vendors.factories import make_member, make_person
from tests.vendors.pages import field_error, flashes, log_in, text
from vendors import shipping
from vendors.access import ROLE_PERMISSIONS, Actor
from vendors.errors import InvalidInput, PermissionDenied, UnknownReference
from vendors.models import MemberRole
from vendors.shipping import MethodInput, ProfileInput, ShippingOption
from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile


def _actor(vendor, role=MemberRole.OWNER) -> Actor:
    return Actor(vendor_id=vendor.id, permissions=ROLE_PERMISSIONS[role], role=role)


# --- quote_options -------------------------------------------------------------------------


def test_a_flat_method_costs_its_base_whatever_the_weight(app):
    vendor = make_vendor()
    method = make_method(make_profile(vendor, handling_days=2), base_minor=490)

    options = shipping.quote_options(vendor.id, "DE", 12_345, 2_000, "EUR")

    assert options == [ShippingOption(method.id, "Standard", Money(490, "EUR"), 2)]


def test_a_weight_method_charges_per_started_kilogram(app):
    vendor = make_vendor()
    profile = make_profile(vendor)
    make_method(profile, name="Express", kind=RateKind.WEIGHT, base_minor=500,
                per_kg_minor=150)

    def price(grams: int) -> int:
        return shipping.quote_options(vendor.id, "DE", grams, 0, "EUR")[0].price.amount_minor

    assert [price(0), price(1), price(1_000), price(1_001), price(2_500)] == [
        500, 650, 650, 800, 950]


def test_shipping_is_free_from_the_threshold_on(app):
    vendor = make_vendor()
    make_method(make_profile(vendor), base_minor=490, free_over_minor=5_000)

    below = shipping.quote_options(vendor.id, "DE", 500, 4_999, "EUR")[0].price
    at = shipping.quote_options(vendor.id, "DE", 500, 5_000, "EUR")[0].price

    assert (below, at) == (Money(490, "EUR"), Money(0, "EUR"))


def test_the_free_threshold_compares_the_subtotal_in_the_methods_currency(app):
    # 1 EUR = 1.10 USD in the starting rates: 45.46 USD is 41.33 EUR, 45.44 USD is 41.31 EUR.
    vendor = make_vendor()
    make_method(make_profile(vendor), base_minor=490, free_over_minor=4_132)

    prices = [shipping.quote_options(vendor.id, "DE", 0, usd, "USD")[0].price
              for usd in (4_544, 4_546)]

    assert prices == [Money(490, "EUR"), Money(0, "EUR")]


def test_only_active_methods_of_profiles_covering_the_country_are_offered_cheapest_first(app):
    vendor = make_vendor()
    europe = make_profile(vendor, name="Europe", countries=("DE", "FR"), handling_days=1)
    world = make_profile(vendor, name="World", countries=("US", "DE"), handling_days=5)
    express = make_method(europe, name="Express", base_minor=1_200)
    standard = make_method(europe, name="Standard", base_minor=490)
    make_method(europe, name="Old courier", base_minor=100, active=False)
    economy = make_method(world, name="Economy", base_minor=900)
    other = make_vendor("Other shop")
    make_method(make_profile(other), name="Theirs", base_minor=1)

    to_germany = shipping.quote_options(vendor.id, "de", 0, 0, "EUR")
    to_us = shipping.quote_options(vendor.id, "US", 0, 0, "EUR")
    to_japan = shipping.quote_options(vendor.id, "JP", 0, 0, "EUR")

    assert [(o.method_id, o.price.amount_minor, o.handling_days) for o in to_germany] == [
        (standard.id, 490, 1), (economy.id, 900, 5), (express.id, 1_200, 1)]
    assert [o.name for o in to_us] == ["Economy"]
    assert to_japan == []


def test_a_yen_shop_quotes_in_yen(app):
    vendor = make_vendor("Tokyo Tea", currency="JPY")
    make_method(make_profile(vendor, countries=("JP",)), kind=RateKind.WEIGHT, base_minor=800,
                per_kg_minor=300, free_over_minor=20_000)

    [option] = shipping.quote_options(vendor.id, "JP", 1_500, 10_000, "JPY")

    assert option.price == Money(1_400, "JPY")


# --- Services ------------------------------------------------------------------------------


def test_an_owner_creates_a_profile_with_normalised_countries(app):
    vendor = make_vendor()

    profile = shipping.create_profile(_actor(vendor), ProfileInput(
        "  Europe   west ", ("fr", "DE", "de"), 3))

    assert (profile.name, profile.countries, profile.handling_days) == (
        "Europe west", ["DE", "FR"], 3)


@pytest.mark.parametrize(("data", "field"), [
    (ProfileInput(" ", ("DE",), 1), "name"),
    (ProfileInput("x" * 121, ("DE",), 1), "name"),
    (ProfileInput("Europe", (), 1), "countries"),
    (ProfileInput("Europe", ("DE", "XX"), 1), "countries"),
    (ProfileInput("Europe", ("DE",), -1), "handling_days"),
    (ProfileInput("Europe", ("DE",), 91), "handling_days"),
])
def test_a_bad_profile_names_the_field_and_writes_nothing(app, data, field):
    vendor = make_vendor()

    with pytest.raises(InvalidInput) as refused:
        shipping.create_profile(_actor(vendor), data)

    assert refused.value.field == field
    assert db.session.scalars(select(ShippingProfile)).all() == []


def test_methods_are_priced_in_the_vendors_currency_and_bounded_there(app):
    vendor = make_vendor(currency="JPY")
    profile = make_profile(vendor)
    actor = _actor(vendor)

    method = shipping.create_method(actor, profile.id, MethodInput(
        "Standard", RateKind.FLAT, 800, 250, 20_000))
    with pytest.raises(InvalidInput) as too_much:
        shipping.create_method(actor, profile.id, MethodInput(
            "Gold", RateKind.FLAT, 100_001, 0, None))

    # A flat rate keeps no per-kg amount.
    assert (method.currency, method.base_minor, method.per_kg_minor, method.free_over_minor) \
        == ("JPY", 800, 0, 20_000)
    assert (too_much.value.field, too_much.value.message) == (
        "base_minor", "Use an amount from 0 to ¥100,000.")


def test_negative_amounts_are_refused(app):
    vendor = make_vendor()
    profile = make_profile(vendor)

    with pytest.raises(InvalidInput) as refused:
        shipping.create_method(_actor(vendor), profile.id, MethodInput(
            "Express", RateKind.WEIGHT, 100, -1, None))

    assert refused.value.field == "per_kg_minor"


def test_staff_can_read_but_not_change_shipping(app):
    vendor = make_vendor()
    profile = make_profile(vendor)

    with pytest.raises(PermissionDenied) as refused:
        shipping.create_method(_actor(vendor, MemberRole.STAFF), profile.id,
                               MethodInput("Standard", RateKind.FLAT, 1, 0, None))

    assert refused.value.message == ("Only owners and managers can change shipping profiles "
                                     "and rates.")


def test_another_vendors_profile_is_unknown(app):
    mine, theirs = make_vendor("Mine"), make_vendor("Theirs")
    their_profile = make_profile(theirs)

    with pytest.raises(UnknownReference):
        shipping.delete_profile(_actor(mine), their_profile.id)
    with pytest.raises(UnknownReference):
        shipping.create_method(_actor(mine), their_profile.id,
                               MethodInput("Standard", RateKind.FLAT, 1, 0, None))


def test_deleting_a_profile_deletes_its_methods(app):
    vendor = make_vendor()
    profile = make_profile(vendor)
    make_method(profile)
    make_method(profile, name="Express")

    name = shipping.delete_profile(_actor(vendor), profile.id)

    assert name == "Europe"
    assert db.session.scalars(select(ShippingMethod)).all() == []


# --- Portal pages --------------------------------------------------------------------------


def _followed(client, answer) -> str:
    """The page a form's 303 leads to, as the browser would show it."""
    assert answer.status_code == 303, answer.status_code
    return client.get(answer.headers["Location"]).get_data(as_text=True)


@pytest.fixture
def shop(app):
    owner = make_person("olga@example.com", name="Olga")
    vendor = make_vendor("Olga's Oils", owner=owner)
    staff = make_member(vendor, MemberRole.STAFF, email="sam@example.com")
    db.session.commit()
    return {"vendor": vendor, "owner": owner, "staff": staff}


def test_the_shipping_page_explains_why_a_profile_is_needed(client, shop):
    log_in(client, shop["owner"])

    page = client.get("/vendor/shipping").get_data(as_text=True)

    assert ("No shipping profiles yet. Buyers can't check out your products until one of "
            "your profiles covers their country.") in text(page)
    assert 'href="/vendor/shipping/new"' in page


def test_an_owner_adds_a_profile_and_a_method_through_the_forms(client, post_form, shop):
    log_in(client, shop["owner"])

    created = _followed(client, post_form("/vendor/shipping/new", {
        "name": "Europe", "countries": ["DE", "FR"], "handling_days": "2"}))
    profile = db.session.scalars(select(ShippingProfile)).one()
    added = _followed(client, post_form(f"/vendor/shipping/{profile.id}/methods/new", {
        "name": "Express", "kind": "weight", "base": "5.00", "per_kg": "1,50",
        "free_over": "", "active": "y"}))
    page = added

    assert flashes(created) == ["The shipping profile Europe was saved."]
    assert flashes(page) == ["The shipping method Express was saved."]
    method = db.session.scalars(select(ShippingMethod)).one()
    assert (method.kind, method.base_minor, method.per_kg_minor, method.free_over_minor,
            method.currency) == (RateKind.WEIGHT, 500, 150, None, "EUR")
    assert "€5.00 + €1.50 per started kg" in text(page)
    assert "France, Germany" in text(page)


def test_a_bad_amount_is_shown_next_to_its_field(client, post_form, shop):
    profile = make_profile(shop["vendor"])
    db.session.commit()
    log_in(client, shop["owner"])

    answer = post_form(f"/vendor/shipping/{profile.id}/methods/new", {
        "name": "Standard", "kind": "flat", "base": "4.999", "free_over": "-3"})

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "base") == (
        "Enter an amount such as 4.90 (in EUR).")
    assert db.session.scalars(select(ShippingMethod)).all() == []


def test_staff_see_the_rates_without_edit_links_and_cant_post(client, post_form, shop):
    profile = make_profile(shop["vendor"])
    make_method(profile, base_minor=490, free_over_minor=5_000)
    db.session.commit()
    log_in(client, shop["staff"])

    page = client.get("/vendor/shipping").get_data(as_text=True)
    refused = post_form(f"/vendor/shipping/{profile.id}/delete")

    assert "€4.90, free from €50.00" in text(page)
    assert "/edit" not in page
    assert refused.status_code == 403
    assert db.session.get(ShippingProfile, profile.id) is not None


def test_an_owner_edits_and_deletes_a_method_and_a_profile(client, post_form, shop):
    profile = make_profile(shop["vendor"])
    method = make_method(profile)
    db.session.commit()
    log_in(client, shop["owner"])

    edited = _followed(client, post_form(f"/vendor/shipping/methods/{method.id}/edit", {
        "name": "Standard", "kind": "flat", "base": "3.90", "free_over": "40"}))
    saved = db.session.get(ShippingMethod, method.id)
    saved_values = (saved.base_minor, saved.free_over_minor, saved.active)
    deleted = _followed(client, post_form(f"/vendor/shipping/methods/{method.id}/delete"))
    renamed = _followed(client, post_form(f"/vendor/shipping/{profile.id}/edit", {
        "name": "EU", "countries": "de, at", "handling_days": "0"}))
    saved_profile = db.session.get(ShippingProfile, profile.id)
    profile_values = (saved_profile.countries, saved_profile.handling_days)
    gone = _followed(client, post_form(f"/vendor/shipping/{profile.id}/delete"))

    assert flashes(edited) == ["The shipping method Standard was saved."]
    assert saved_values == (390, 4_000, False)
    assert flashes(deleted) == ["The shipping method Standard was deleted."]
    assert flashes(renamed) == ["The shipping profile EU was saved."]
    assert profile_values == (["AT", "DE"], 0)
    assert flashes(gone) == ["The shipping profile EU was deleted."]
    assert db.session.scalars(select(ShippingProfile)).all() == []


# --- Demo seed -----------------------------------------------------------------------------


def test_every_demo_shop_ships_standard_and_express_to_the_demo_countries(app):
    from marketplace.admin.seed import seed_demo
    from vendors.models import Vendor

    seed_demo(vendors=4, products=2, buyers=1, seed=7)
    shops = db.session.scalars(select(Vendor).order_by(Vendor.id)).all()

    quotes = {(shop.default_currency, country): [
        (o.name, o.price.amount_minor) for o in
        shipping.quote_options(shop.id, country, 1_200, 0, shop.default_currency)]
        for shop in shops for country in ("DE", "FR", "GB", "US", "NL")}
    free = shipping.quote_options(shops[0].id, "DE", 1_200, 10_000_000,
                                  shops[0].default_currency)

    assert len(shops) == 4
    assert quotes[("EUR", "FR")] == [("Standard", 490), ("Express", 1_290)]
    assert quotes[("JPY", "US")] == [("Standard", 800), ("Express", 2_040)]
    assert all(len(options) == 2 for options in quotes.values())
    assert [o.price.amount_minor for o in free][0] == 0
