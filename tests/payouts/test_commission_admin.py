"""The admin's commission pages: creating, changing and closing rules through the forms, the
"what would this rule have charged" preview, and who may see them."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import defaultdict
from fractions import Fraction
from math import floor

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.fx import STARTING_RATES
from marketplace.models import Role
from payouts import capture, commission
from payouts.commission import Terms
from payouts.models import CommissionRule
from tests.conftest import csrf_token
from tests.factories import make_category, make_product, make_user, make_vendor
from tests.order_factories import Part, make_order
from tests.payouts.ledger_support import checkout, pay
from tests.vendors.pages import cell, field_error, flashes, log_in, rows, text
from vendors.order_models import Order, OrderLine

NEW = "/admin/commission/new"
EXPONENTS = {"EUR": 2, "JPY": 0, "USD": 2, "GBP": 2}


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    admin = make_user("root@example.com", role=Role.ADMIN, name="Root")
    db.session.commit()
    log_in(client, admin)
    return client


@pytest.fixture
def post(admin_client: FlaskClient):
    def post(path: str, data: dict):
        return admin_client.post(path, data={"csrf_token": csrf_token(admin_client, NEW), **data})

    return post


def _rules() -> list[tuple]:
    return list(db.session.execute(
        sa.select(CommissionRule.name, CommissionRule.vendor_id, CommissionRule.category_id,
                  CommissionRule.rate_bp, CommissionRule.fixed_minor,
                  CommissionRule.minimum_minor, CommissionRule.currency,
                  CommissionRule.version)
        .order_by(CommissionRule.id)).all())


def _rule_form(**values: str) -> dict[str, str]:
    return {"name": "Platform default", "scope": "default", "category_id": "", "vendor": "",
            "rate": "10", "currency": "EUR", "fixed": "", "minimum": "", "valid_from": "",
            "period": "90", "action": "save", **values}


def _ago(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


# --- The list -----------------------------------------------------------------------------------


def test_without_rules_the_list_says_orders_pay_no_commission(admin_client):
    page = admin_client.get("/admin/commission").get_data(as_text=True)

    message = text(re.search(r'id="no-rules">(.*?)</p>', page, re.S).group(1))
    assert "orders are charged no commission" in message
    assert 'href="/admin/commission/new"' in page


def test_the_admin_navigation_links_to_the_commission_rules(admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)

    assert re.search(r'<a href="/admin/commission">Commission</a>', page)


def test_the_list_shows_rules_in_force_and_past_versions_with_pages(admin_client):
    vendor = make_vendor("Atelier Lumen")
    first = commission.create_rule(name="Platform default", rate_bp=1_250, currency="EUR",
                                   fixed_minor=30, minimum_minor=100, valid_from=_ago(5))
    second = commission.change_rule(first.id, rate_bp=1_000)
    for n in range(21):
        commission.create_rule(name=f"Deal {n:02d}", rate_bp=500, currency="JPY",
                               fixed_minor=50, vendor_id=vendor.id)
    db.session.commit()

    current = admin_client.get("/admin/commission").get_data(as_text=True)
    last = admin_client.get("/admin/commission?page=2").get_data(as_text=True)
    past = admin_client.get("/admin/commission?state=past").get_data(as_text=True)

    assert len(rows(current, "rule")) == 20 and len(rows(last, "rule")) == 2
    assert rows(current, "rule")[0] == second.id  # the platform default comes first
    assert [cell(current, "rule", second.id, c) for c in (
        "scope", "rate", "fixed", "minimum", "version", "until", "state")] == [
        "Platform default", "10%", "€0.30", "€1.00", "2", "—", "In force · Change · Close"]
    assert [cell(last, "rule", rows(last, "rule")[-1], c) for c in ("scope", "name", "fixed")] == [
        "Vendor: Atelier Lumen", "Deal 20", "¥50"]
    assert "no-default" not in current
    assert rows(past, "rule") == [first.id]
    assert [cell(past, "rule", first.id, c) for c in ("rate", "version", "state")] == [
        "12.5%", "1", "Ended"]


def test_a_list_without_a_platform_default_warns_that_unmatched_lines_pay_nothing(admin_client):
    commission.create_rule(name="Deal", rate_bp=500, currency="EUR",
                           vendor_id=make_vendor().id)
    db.session.commit()

    page = admin_client.get("/admin/commission").get_data(as_text=True)

    assert "charged no commission" in text(re.search(r'id="no-default">(.*?)</p>', page,
                                                     re.S).group(1))


# --- Creating -----------------------------------------------------------------------------------


def test_creating_a_platform_default_reads_percent_and_money_exactly(post):
    response = post(NEW, _rule_form(rate="12.5", fixed="1.50", minimum="0.99"))

    assert response.status_code == 303
    assert _rules() == [("Platform default", None, None, 1_250, 150, 99, "EUR", 1)]


def test_creating_a_rule_flashes_what_it_charges(admin_client, post):
    post(NEW, _rule_form(rate="12.5", fixed="1.50"))

    page = admin_client.get("/admin/commission").get_data(as_text=True)

    (message,) = flashes(page)
    assert message.startswith("The rule Platform default is saved: 12.5% + €1.50 from ")
    assert message.endswith("(Platform default).")


def test_creating_a_category_rule_from_the_select(admin_client, post):
    home = make_category("Home")
    lamps = make_category("Lamps", parent=home)
    db.session.commit()
    form = admin_client.get(NEW).get_data(as_text=True)
    assert re.search(rf'<option value="{lamps.id}">\u2003Lamps</option>', form)

    response = post(NEW, _rule_form(name="Lamps", scope="category", category_id=str(lamps.id),
                                    rate="8", minimum="0.50"))

    assert response.status_code == 303
    assert _rules() == [("Lamps", None, lamps.id, 800, 0, 50, "EUR", 1)]


@pytest.mark.parametrize("typed", ["Atelier Lumen", "atelier lumen", "SLUG"])
def test_creating_a_vendor_rule_by_name_or_slug(post, typed):
    vendor = make_vendor("Atelier Lumen")
    db.session.commit()

    response = post(NEW, _rule_form(name="Atelier deal", scope="vendor",
                                    vendor=vendor.slug if typed == "SLUG" else typed,
                                    rate="5", fixed="0.30"))

    assert response.status_code == 303
    assert _rules() == [("Atelier deal", vendor.id, None, 500, 30, 0, "EUR", 1)]


def test_a_yen_fee_is_whole_yen(post):
    response = post(NEW, _rule_form(currency="JPY", fixed="150", minimum="80"))

    assert response.status_code == 303
    assert _rules() == [("Platform default", None, None, 1_000, 150, 80, "JPY", 1)]


def test_a_yen_fee_with_decimals_is_refused(post):
    response = post(NEW, _rule_form(currency="JPY", fixed="1.50"))

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "fixed") == (
        "JPY has no minor units: enter a whole amount such as 150.")
    assert _rules() == []


def test_a_scheduled_rule_starts_at_the_time_typed_in_utc(post):
    start = (utcnow() + dt.timedelta(days=3)).replace(second=0, microsecond=0)

    post(NEW, _rule_form(valid_from=start.strftime("%Y-%m-%dT%H:%M")))

    rule = db.session.scalars(sa.select(CommissionRule)).one()
    assert commission._aware(rule.valid_from) == start


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"rate": "-1"}, "rate", "The rate must be between 0 and 100 percent."),
    ({"rate": "100.01"}, "rate", "The rate must be between 0 and 100 percent."),
    ({"rate": "abc"}, "rate", "Enter the rate in percent, such as 12.5."),
    ({"rate": "12.345"}, "rate", "Use at most two decimals, such as 12.75."),
    ({"rate": "NaN"}, "rate", "Enter the rate in percent, such as 12.5."),
    ({"rate": ""}, "rate", "Enter the rate in percent, such as 12.5."),
    ({"fixed": "-0.50"}, "fixed", "The amount can't be negative."),
    ({"fixed": "abc"}, "fixed", "Enter an amount such as 1.50 (in EUR)."),
    ({"minimum": "1.505"}, "minimum", "EUR has 2 decimals: enter an amount such as 1.50."),
    ({"minimum": "1e400"}, "minimum", "The amount is too large."),
    ({"currency": "XYZ"}, "currency", "Choose a currency such as EUR."),
    ({"currency": "CHF"}, "currency",
     "CHF has no exchange rate; choose a currency the marketplace has a rate for."),
    ({"name": ""}, "name", 'Name the rule, such as "Platform default".'),
    ({"scope": "everyone"}, "scope", "Choose the platform default, a category or a vendor."),
    ({"valid_from": "yesterday"}, "valid_from",
     "Enter a date and time such as 2026-12-01 00:00."),
    ({"valid_from": "2020-01-01T00:00"}, "valid_from",
     "Choose now or a later time: orders placed before then keep the rules they were placed "
     "under."),
    ({"scope": "vendor", "vendor": "Nobody"}, "vendor",
     "No vendor is called Nobody or has that address."),
    ({"scope": "vendor"}, "vendor", "Enter the vendor's name or shop address (slug)."),
    ({"scope": "category"}, "category_id", "Choose the category."),
    ({"scope": "category", "category_id": "99999999999999999999"}, "category_id",
     "Choose a category from the list."),
])
def test_bad_input_re_renders_the_form_with_a_message_and_saves_nothing(post, values, field,
                                                                       message):
    response = post(NEW, _rule_form(**values))

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, field) == message
    assert 'name="rate"' in page  # the form again, with what was typed
    assert _rules() == []


def test_a_rule_naming_both_a_vendor_and_a_category_is_refused(post):
    vendor = make_vendor("Atelier Lumen")
    category = make_category("Lamps")
    db.session.commit()

    for scope in ("vendor", "category", "default"):
        response = post(NEW, _rule_form(scope=scope, vendor=vendor.slug,
                                        category_id=str(category.id)))

        assert response.status_code == 422
        assert field_error(response.get_data(as_text=True), "scope") == (
            "Choose either a category or a vendor, not both: a rule applies to one of them.")
    assert _rules() == []


def test_a_second_rule_for_a_scope_that_has_one_is_refused(post):
    assert post(NEW, _rule_form()).status_code == 303

    response = post(NEW, _rule_form(name="Another default", rate="12"))

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "scope") == (
        "This scope already has the rule Platform default (version 1) from then on. Change its "
        "terms from a date, or close it first.")
    assert [r[0] for r in _rules()] == ["Platform default"]


@pytest.mark.postgres_only
def test_two_admins_creating_a_default_at_once_make_one_rule(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    from payouts import commission_admin

    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def create(index: int) -> None:
        with app.app_context(), app.test_request_context():
            barrier.wait()
            try:
                commission_admin.create(name=f"Default {index}", scope=commission_admin.Scope(),
                                        terms=Terms(1_000, 0, 0, "EUR"))
                db.session.commit()
                outcomes.append("created")
            except commission_admin.RuleInputError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["created"] + ["refused"] * 5
    assert len(_rules()) == 1


def test_a_form_without_its_csrf_token_is_refused(admin_client):
    response = admin_client.post(NEW, data=_rule_form())

    assert response.status_code == 400
    assert _rules() == []


# --- Changing and closing -----------------------------------------------------------------------


def _line_terms(order_id: int) -> list[tuple]:
    return list(db.session.execute(
        sa.select(OrderLine.net_minor, OrderLine.commission_rule_version,
                  OrderLine.commission_bp, OrderLine.commission_minor)
        .where(OrderLine.order_id == order_id).order_by(OrderLine.id)).all())


def test_a_change_makes_version_2_and_past_orders_keep_version_1(client, admin_client, post,
                                                                 market):
    assert post(NEW, _rule_form(rate="10")).status_code == 303
    (rule_id,) = db.session.scalars(sa.select(CommissionRule.id)).all()
    before = checkout(client, market.buyer, (market.lamp, 1))
    pay(before)

    response = post(f"/admin/commission/{rule_id}/change", {
        "rate": "12.5", "currency": "EUR", "fixed": "0.30", "minimum": "",
        "effective_from": "", "period": "90", "action": "save"})

    assert response.status_code == 303
    (message,) = flashes(admin_client.get("/admin/commission").get_data(as_text=True))
    assert re.fullmatch(
        r"Platform default changes on \d{4}-\d\d-\d\d \d\d:\d\d UTC: version 2 charges "
        r"12\.5% \+ €0\.30\. Orders placed before then keep version 1's terms \(10%\), frozen "
        r"on their lines\.", message)
    assert _rules() == [("Platform default", None, None, 1_000, 0, 0, "EUR", 1),
                        ("Platform default", None, None, 1_250, 30, 0, "EUR", 2)]
    # €45.00 incl. 19% VAT is €37.82 net: 10% is €3.78.
    assert _line_terms(before.id) == [(3_782, 1, 1_000, 378)]

    after = checkout(client, market.buyer, (market.lamp, 1))
    pay(after)

    assert _line_terms(before.id) == [(3_782, 1, 1_000, 378)]
    assert _line_terms(after.id) == [(3_782, 2, 1_250, 473 + 30)]


def test_a_rule_that_has_not_started_is_changed_in_place(admin_client, post):
    rule = commission.create_rule(name="Launch deal", rate_bp=1_000, currency="EUR",
                                  valid_from=utcnow() + dt.timedelta(days=3))
    db.session.commit()

    response = post(f"/admin/commission/{rule.id}/change", {
        "rate": "9", "currency": "EUR", "action": "save"})

    assert response.status_code == 303
    assert _rules() == [("Launch deal", None, None, 900, 0, 0, "EUR", 1)]
    assert flashes(admin_client.get("/admin/commission").get_data(as_text=True)) == [
        "Launch deal hadn't started yet, so version 1 was edited in place: it charges 9%. "
        "No order was placed under it."]


def test_an_older_version_can_not_be_changed_again(post):
    rule = commission.create_rule(name="Platform default", rate_bp=1_000, currency="EUR",
                                  valid_from=_ago(3))
    commission.change_rule(rule.id, rate_bp=1_100)
    db.session.commit()

    response = post(f"/admin/commission/{rule.id}/change", {
        "rate": "12", "currency": "EUR", "action": "save"})

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "effective_from") == (
        "Version 2 replaced this one; change or close the newest version.")
    assert [r[3] for r in _rules()] == [1_000, 1_100]


def test_a_change_with_a_bad_rate_keeps_the_rule(post):
    rule = commission.create_rule(name="Platform default", rate_bp=1_000, currency="EUR",
                                  valid_from=_ago(3))
    db.session.commit()

    response = post(f"/admin/commission/{rule.id}/change", {
        "rate": "101", "currency": "EUR", "action": "save"})

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "rate") == (
        "The rate must be between 0 and 100 percent.")
    assert _rules() == [("Platform default", None, None, 1_000, 0, 0, "EUR", 1)]


def test_changing_an_unknown_rule_is_a_404(admin_client):
    assert admin_client.get("/admin/commission/999/change").status_code == 404


def test_closing_a_rule_ends_it_and_a_past_end_is_refused(admin_client, post):
    rule = commission.create_rule(name="Platform default", rate_bp=1_000, currency="EUR",
                                  valid_from=_ago(3))
    db.session.commit()

    refused = post(f"/admin/commission/{rule.id}/close", {"until": "2020-01-01T00:00"})
    assert refused.status_code == 422
    assert field_error(refused.get_data(as_text=True), "until").startswith(
        "Choose now or a later time")
    assert db.session.get(CommissionRule, rule.id).valid_until is None

    closed = post(f"/admin/commission/{rule.id}/close", {"until": ""})

    assert closed.status_code == 303
    assert db.session.get(CommissionRule, rule.id).valid_until is not None
    page = admin_client.get("/admin/commission?state=past").get_data(as_text=True)
    assert rows(page, "rule") == [rule.id]
    assert flashes(page)[0].startswith("Platform default (version 1) ends on ")


# --- The preview -------------------------------------------------------------------------------


def _convert(amount_minor: int, source: str, target: str, rates: dict[str, int]) -> int:
    """Exact conversion, rounded half up, written out independently of marketplace.fx."""
    if source == target:
        return amount_minor
    value = (Fraction(amount_minor * rates[target], rates[source])
             * Fraction(10) ** (EXPONENTS[target] - EXPONENTS[source]))
    return floor(value + Fraction(1, 2))


def _expected(order_ids: list[int], *, rate_bp: int, fixed: int, minimum: int,
              currency: str, skip_vendor: int | None = None) -> dict[str, tuple[int, int, int]]:
    """{currency: (lines, frozen commission, commission at the proposed terms)}."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for order_id in order_ids:
        order = db.session.get(Order, order_id)
        rates = {**STARTING_RATES, **order.fx_rates}
        for line in db.session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order_id)):
            if line.vendor_id == skip_vendor:
                continue
            by_rate = floor(Fraction(line.net_minor * rate_bp, 10_000) + Fraction(1, 2))
            proposed = min(max(by_rate + _convert(fixed, currency, order.currency, rates),
                               _convert(minimum, currency, order.currency, rates)),
                           line.net_minor)
            entry = totals[order.currency]
            entry[0] += 1
            entry[1] += line.commission_minor
            entry[2] += proposed
    return {code: tuple(values) for code, values in totals.items()}


def _money(amount_minor: int, currency: str, signed: bool = False) -> str:
    sign = "-" if amount_minor < 0 else ("+" if signed and amount_minor > 0 else "")
    digits = EXPONENTS[currency]
    whole, cents = divmod(abs(amount_minor), 10 ** digits)
    value = f"{whole:,}" + (f".{cents:0{digits}d}" if digits else "")
    return f"{sign}{ {'EUR': '€', 'JPY': '¥'}[currency]}{value}"


def _shown(page: str) -> dict[str, tuple[str, str, str, str]]:
    table = re.search(r'<table id="preview-currencies">(.*?)</table>', page, re.S).group(1)
    return {code: tuple(cell(table, "currency", code, c)
                        for c in ("lines", "actual", "proposed", "difference"))
            for code in re.findall(r'<tr data-currency="(\w+)"', table)}


@pytest.fixture
def history(app):
    """Captured orders over the past year: EUR and JPY orders of three vendors, with a vendor
    rule for one of them, each order frozen under the rules valid when it was placed."""
    buyer = make_user("buyer@example.com")
    nordic, atelier, kumo = (make_vendor("Nordic Goods"), make_vendor("Atelier Lumen"),
                             make_vendor("Kumo Store", currency="JPY"))
    chair = make_product(nordic, title="Oak Chair", price_minor=12_905).variants[0]
    lamp = make_product(atelier, title="Brass Lamp", price_minor=4_500).variants[0]
    mug = make_product(kumo, title="Tea Mug", price_minor=1_555).variants[0]
    default = commission.create_rule(name="Platform default", rate_bp=1_000, currency="EUR",
                                     valid_from=_ago(400))
    deal = commission.create_rule(name="Atelier deal", rate_bp=500, fixed_minor=30,
                                  currency="EUR", vendor_id=atelier.id, valid_from=_ago(400))
    for rule in (default, deal):
        rule.created_at = _ago(400)
    orders = {
        "recent_eur": make_order(buyer, Part(((chair, 2),)), Part(((lamp, 1),)),
                                 placed_at=_ago(10)),
        "recent_jpy": make_order(buyer, Part(((mug, 3),)), currency="JPY",
                                 placed_at=_ago(20)),
        "older_eur": make_order(buyer, Part(((chair, 1),)), placed_at=_ago(200)),
        "ancient": make_order(buyer, Part(((chair, 1),)), placed_at=_ago(500)),
    }
    # The yen order recorded a rate of its own; the preview must use it, not today's.
    orders["recent_jpy"].fx_rates = {"EUR": 1_000_000, "JPY": 150_000_000}
    for order in orders.values():
        capture.post_order_captures(order.id)
    db.session.commit()
    return {"orders": {name: order.id for name, order in orders.items()}, "nordic": nordic,
            "atelier": atelier, "kumo": kumo}


def _preview(post, **values):
    response = post(NEW, _rule_form(action="preview", **values))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_the_preview_compares_frozen_and_proposed_commission_per_currency(post, history):
    rules_before = _rules()

    page = _preview(post, rate="12", fixed="0.20", minimum="1.00", period="90")

    ids = history["orders"]
    expected = _expected([ids["recent_eur"], ids["recent_jpy"]], rate_bp=1_200, fixed=20,
                         minimum=100, currency="EUR", skip_vendor=history["atelier"].id)
    assert set(expected) == {"EUR", "JPY"}
    assert _shown(page) == {
        code: (str(lines), _money(actual, code), _money(proposed, code),
               _money(proposed - actual, code, signed=True))
        for code, (lines, actual, proposed) in expected.items()}
    # The lamp was charged by Atelier's own rule, which a new default would not beat.
    assert text(re.search(r'id="preview-skipped">(.*?)</p>', page, re.S).group(1)).startswith(
        "1 line in this scope was charged by a more specific rule")
    assert _rules() == rules_before


def test_the_preview_period_reaches_older_orders(post, history):
    ids = history["orders"]

    page = _preview(post, rate="12", period="365")

    expected = _expected([ids["recent_eur"], ids["recent_jpy"], ids["older_eur"]],
                         rate_bp=1_200, fixed=0, minimum=0, currency="EUR",
                         skip_vendor=history["atelier"].id)
    assert _shown(page)["EUR"][0] == str(expected["EUR"][0]) == "2"
    assert _shown(page)["EUR"][2] == _money(expected["EUR"][2], "EUR")


def test_a_vendor_preview_covers_that_vendors_lines_and_names_it(post, history):
    ids = history["orders"]

    page = _preview(post, name="Atelier deal", scope="vendor", vendor="Atelier Lumen",
                    rate="7", fixed="0.10", period="30")

    (lines, actual, proposed) = _expected([ids["recent_eur"]], rate_bp=700, fixed=10,
                                          minimum=0, currency="EUR")["EUR"]
    lamp_only = _expected([ids["recent_eur"]], rate_bp=700, fixed=10, minimum=0,
                          currency="EUR", skip_vendor=history["nordic"].id)["EUR"]
    assert _shown(page) == {"EUR": ("1", _money(lamp_only[1], "EUR"),
                                    _money(lamp_only[2], "EUR"),
                                    _money(lamp_only[2] - lamp_only[1], "EUR", signed=True))}
    assert (lines, actual, proposed) != lamp_only  # the chair's line is left out
    assert cell(page, "vendor", history["atelier"].id, "vendor") == "Atelier Lumen"
    assert "preview-skipped" not in page


def test_a_category_preview_leaves_out_lines_a_nearer_category_rule_charged(app):
    buyer = make_user("buyer@example.com")
    vendor = make_vendor("Nordic Goods")
    home = make_category("Home")
    lamps = make_category("Lamps", parent=home)
    chairs = make_category("Chairs", parent=home)
    lamp = make_product(vendor, lamps, title="Lamp", price_minor=5_000).variants[0]
    chair = make_product(vendor, chairs, title="Chair", price_minor=20_000).variants[0]
    elsewhere = make_product(vendor, title="Rug", price_minor=9_000).variants[0]
    for rule in (commission.create_rule(name="Default", rate_bp=1_000, currency="EUR",
                                        valid_from=_ago(30)),
                 commission.create_rule(name="Lamps", rate_bp=2_000, currency="EUR",
                                        category_id=lamps.id, valid_from=_ago(30))):
        rule.created_at = _ago(30)
    order = make_order(buyer, Part(((lamp, 1), (chair, 1), (elsewhere, 1))),
                       placed_at=_ago(5))
    capture.post_order_captures(order.id)
    from payouts import commission_admin

    result = commission_admin.preview(commission_admin.Scope(category_id=home.id),
                                      commission.Terms(1_500, 0, 0, "EUR"), 30)

    # The chair (10% by the default) would be 15% under Home; the lamp keeps Lamps' 20%;
    # the rug is not under Home.
    assert result.by_currency["EUR"].__dict__ == {
        "lines": 1, "actual_minor": 2_000, "proposed_minor": 3_000}
    assert result.skipped == {"EUR": 1}
    assert [(v.vendor_name, v.totals.difference_minor) for v in result.top_vendors] == [
        ("Nordic Goods", 1_000)]


def test_the_preview_with_nothing_captured_says_so(post, app):
    page = _preview(post, rate="12")

    assert "No captured order line in this period" in page
    assert 'id="preview-assumes"' in page


def test_a_preview_with_bad_input_is_a_422_not_a_page_of_numbers(post, history):
    response = post(NEW, _rule_form(action="preview", rate="abc"))

    assert response.status_code == 422
    assert 'id="preview"' not in response.get_data(as_text=True)


def test_the_change_form_previews_the_rules_own_scope(post, history):
    deal = db.session.scalars(sa.select(CommissionRule).where(
        CommissionRule.vendor_id == history["atelier"].id)).one()

    response = post(f"/admin/commission/{deal.id}/change", {
        "rate": "6", "currency": "EUR", "fixed": "0.30", "period": "30", "action": "preview"})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    lamp_only = _expected([history["orders"]["recent_eur"]], rate_bp=600, fixed=30, minimum=0,
                          currency="EUR", skip_vendor=history["nordic"].id)["EUR"]
    assert _shown(page)["EUR"] == ("1", _money(lamp_only[1], "EUR"),
                                   _money(lamp_only[2], "EUR"),
                                   _money(lamp_only[2] - lamp_only[1], "EUR", signed=True))
    assert _rules()[1][3] == 500  # still the old terms: a preview saves nothing


# --- Who may see it -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/commission", NEW, "/admin/commission/1/change",
                                  "/admin/commission/1/close"])
def test_a_buyer_gets_403_and_a_visitor_the_login_page(app, client, path):
    commission.create_rule(name="Default", rate_bp=1_000, currency="EUR")
    buyer = make_user("buyer@example.com")
    db.session.commit()

    visitor = client.get(path)
    assert visitor.status_code == 302 and "/login" in visitor.headers["Location"]

    log_in(client, buyer)
    assert client.get(path).status_code == 403


def test_a_buyer_can_not_create_a_rule(app, client):
    buyer = make_user("buyer@example.com")
    db.session.commit()
    log_in(client, buyer)

    response = client.post(NEW, data={"csrf_token": csrf_token(client, "/"), **_rule_form()})

    assert response.status_code == 403
    assert _rules() == []
