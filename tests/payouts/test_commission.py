"""Commission rules: precedence, validity, versions and what a rule charges."""

from __future__ import annotations

import datetime as dt

import pytest

from marketplace.admin.seed import seed_demo
from marketplace.db import utcnow
from payouts import commission
from payouts.commission import NoCommissionRule, Terms
from tests.factories import make_category, make_vendor

RATES = {"EUR": 1_000_000, "JPY": 160_000_000}


def _ago(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


@pytest.mark.parametrize(("net", "terms", "expected"), [
    (10_000, Terms(1_000, 0, 0, "EUR"), 1_000),
    (10_005, Terms(1_000, 0, 0, "EUR"), 1_001),  # 1,000.5 rounds half up
    (10_004, Terms(1_000, 0, 0, "EUR"), 1_000),
    (10_000, Terms(500, 30, 0, "EUR"), 530),
    (1_000, Terms(500, 0, 200, "EUR"), 200),  # the minimum
    (150, Terms(500, 0, 200, "EUR"), 150),  # never more than the line's net
    (0, Terms(1_000, 30, 0, "EUR"), 0),
])
def test_charge_is_rate_plus_fixed_at_least_the_minimum_at_most_the_net(net, terms, expected):
    assert commission.charge(net, "EUR", terms, RATES) == expected


def test_fixed_and_minimum_are_converted_to_the_order_currency():
    # €0.50 at 160 JPY per EUR is ¥80; 10% of ¥1,500 is ¥150.
    assert commission.charge(1_500, "JPY", Terms(1_000, 50, 0, "EUR"), RATES) == 230
    assert commission.charge(1_500, "JPY", Terms(0, 0, 200, "EUR"), RATES) == 320


def test_vendor_rule_beats_category_rule_beats_platform_default(app):
    vendor, other = make_vendor(), make_vendor("Other")
    home = make_category("Home")
    lamps = make_category("Lamps", parent=home)
    default = commission.create_rule(name="Default", rate_bp=1_000, currency="EUR",
                                     valid_from=_ago(10))
    home_rule = commission.create_rule(name="Home", rate_bp=800, currency="EUR",
                                       category_id=home.id, valid_from=_ago(10))
    vendor_rule = commission.create_rule(name="Deal", rate_bp=500, currency="EUR",
                                         vendor_id=vendor.id, valid_from=_ago(10))

    assert commission.rule_for(vendor.id, lamps.id, utcnow()).id == vendor_rule.id
    assert commission.rule_for(other.id, lamps.id, utcnow()).id == home_rule.id  # ancestor
    assert commission.rule_for(other.id, None, utcnow()).id == default.id


def test_nearest_category_wins_over_an_ancestor(app):
    vendor = make_vendor()
    home = make_category("Home")
    lamps = make_category("Lamps", parent=home)
    commission.create_rule(name="Home", rate_bp=800, currency="EUR", category_id=home.id,
                           valid_from=_ago(10))
    lamp_rule = commission.create_rule(name="Lamps", rate_bp=1_200, currency="EUR",
                                       category_id=lamps.id, valid_from=_ago(10))

    assert commission.rule_for(vendor.id, lamps.id, utcnow()).id == lamp_rule.id


def test_rules_count_only_inside_their_validity(app):
    vendor = make_vendor()
    default = commission.create_rule(name="Default", rate_bp=1_000, currency="EUR",
                                     valid_from=_ago(10))
    future = commission.create_rule(name="Launch deal", rate_bp=0, currency="EUR",
                                    vendor_id=vendor.id, valid_from=utcnow() + dt.timedelta(days=1))

    assert commission.rule_for(vendor.id, None, utcnow()).id == default.id
    assert commission.rule_for(vendor.id, None, utcnow() + dt.timedelta(days=2)).id == future.id
    with pytest.raises(NoCommissionRule):
        commission.rule_for(vendor.id, None, _ago(11))


def test_changing_a_rule_closes_the_version_and_opens_the_next(app):
    vendor = make_vendor()
    first = commission.create_rule(name="Default", rate_bp=1_000, currency="EUR",
                                   valid_from=_ago(10))
    changed_at = utcnow() + dt.timedelta(hours=1)

    second = commission.change_rule(first.id, at=changed_at, rate_bp=1_200)

    assert (first.version, first.rate_bp, first.valid_until) == (1, 1_000, changed_at)
    assert (second.version, second.rate_bp, second.valid_from, second.valid_until) == (
        2, 1_200, changed_at, None)
    assert commission.rule_for(vendor.id, None, utcnow()).id == first.id
    assert commission.rule_for(vendor.id, None, changed_at).id == second.id


def test_a_version_not_started_yet_is_edited_in_place(app):
    rule = commission.create_rule(name="Next year", rate_bp=1_000, currency="EUR",
                                  valid_from=utcnow() + dt.timedelta(days=30))

    same = commission.change_rule(rule.id, rate_bp=900)

    assert (same.id, same.version, same.rate_bp) == (rule.id, 1, 900)


def test_a_rule_written_later_with_a_back_dated_start_does_not_reach_older_orders(app):
    vendor = make_vendor()
    default = commission.create_rule(name="Default", rate_bp=1_000, currency="EUR",
                                     valid_from=_ago(10))
    order_created = utcnow()
    commission.create_rule(name="Back-dated", rate_bp=0, currency="EUR", vendor_id=vendor.id,
                           valid_from=_ago(10))

    assert commission.rule_for(vendor.id, None, order_created).id == default.id


def test_the_demo_seed_has_a_ten_percent_platform_default(app):
    seed_demo(vendors=1, products=0, buyers=1, seed=1)

    rule = commission.rule_for(1, None, utcnow())
    assert (rule.name, rule.rate_bp, rule.vendor_id, rule.category_id, rule.version) == (
        "Platform default", 1_000, None, None, 1)
