"""The admins' finance report: revenue net of reversals, what is owed both ways, tax,
payouts, refunds and disputes by status, and the twelve-month chart."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from marketplace.extensions import db
from marketplace.models import Role
from payouts import capture
from payouts.models import Dispute, DisputeStatus, Payout, PayoutStatus
from payouts.statement_export import Month
from tests.factories import make_user, make_vendor
from tests.payouts.finance_support import (
    ledger_clock,
    paid_order,
    post_payout,
    post_refund,
    post_sale,
    post_settle,
    succeeded_refund,
)
from tests.payouts.ledger_support import postings_of
from tests.vendors.factories import make_person
from tests.vendors.pages import cell, log_in

DAY = dt.timedelta(days=1)


@pytest.fixture
def books(app):
    """This month: a sale of 119.00 (19.00 tax, 10.00 commission) released and 60.00 paid
    out; a refund giving 1.00 of commission back; a JPY sale with 150 commission; a shop
    refunded 5.00 it never had (a negative balance); a paid order of 30.00 refunded 12.00; a
    failed payout of 7.00 and a lost dispute of 30.00. Last month: a sale with 20.00
    commission and 3.00 tax."""
    this, last = Month.of(dt.datetime.now(dt.UTC)), Month.of(dt.datetime.now(dt.UTC)).previous()
    fjord = make_vendor("Fjord & Field")
    broke = make_vendor("Broke Shop")
    kumo = make_vendor("Kumo Store", currency="JPY")
    with ledger_clock(last.start + 3 * DAY):
        post_sale(fjord, gross=80_00, commission=20_00, tax=3_00)
    post_sale(fjord, gross=119_00, commission=10_00, tax=19_00)
    post_settle(fjord, 90_00)
    post_payout(fjord, 60_00)
    post_refund(fjord, vendor_share=9_00, commission=1_00)
    post_sale(kumo, gross=1_500, commission=150, currency="JPY")
    post_refund(broke, vendor_share=5_00)
    order = paid_order(make_person("buyer@example.com"), fjord, 30_00)
    succeeded_refund(order, 12_00)
    db.session.add(Payout(vendor_id=fjord.id, currency="EUR", amount_minor=7_00,
                          status=PayoutStatus.FAILED, provider="sandbox", attempts=1))
    db.session.add(Dispute(provider_dispute_id="dp_test_1", order_id=order.id, currency="EUR",
                           amount_minor=30_00, status=DisputeStatus.LOST))
    admin = make_user("admin@example.com", role=Role.ADMIN)
    db.session.commit()
    # The paid order's commission, as the platform's default rule charged it at capture.
    fee = sum(amount for _debited, credited, amount, _c in
              postings_of(capture.capture_key(order.sub_orders[0].id))
              if credited == "commission_revenue")
    return {"admin": admin, "fjord": fjord, "broke": broke, "this": this, "last": last,
            "order": order, "fee": fee}


def _eur(amount_minor: int) -> str:
    return f"€{amount_minor // 100:,}.{amount_minor % 100:02d}"


def test_this_months_figures(client, books):
    log_in(client, books["admin"])

    page = client.get("/admin/finance").get_data(as_text=True)

    fee = books["fee"]
    # Commission: 10.00 on the sale and the paid order's, less 1.00 refunded.
    assert [cell(page, "currency", "EUR", c) for c in ("earned", "reversed", "net")] == [
        _eur(10_00 + fee), "€1.00", _eur(9_00 + fee)]
    assert cell(page, "currency", "JPY", "net") == "¥150"
    # Owed to Fjord: pending 57.00 (last month's share) + 90.00 - 90.00 released + the paid
    # order's 30.00 less its commission - 12.00 refunded; available 90.00 - 60.00 - 9.00.
    payables = re.search(r'<table id="payables"[^>]*>.*?</table>', page, re.S).group(0)
    assert [cell(payables, "currency", "EUR", c) for c in ("vendors", "pending", "available",
                                                           "total")] == [
        "1", _eur(75_00 - fee), "€21.00", _eur(96_00 - fee)]
    assert cell(payables, "currency", "JPY", "total") == "¥1,350"
    receivables = re.search(r'<table id="receivables"[^>]*>.*?</table>', page, re.S).group(0)
    assert [cell(receivables, "vendor", books["broke"].id, c) for c in ("vendor", "owed")] == [
        "Broke Shop", "€5.00"]
    tax = re.search(r'<table id="tax"[^>]*>.*?</table>', page, re.S).group(0)
    assert [cell(tax, "currency", "EUR", c) for c in ("collected", "payable")] == [
        "€19.00", "€22.00"]
    payouts = re.search(r'<table id="payouts-by-status"[^>]*>.*?</table>', page, re.S).group(0)
    assert re.findall(r'data-status="(\w+)" data-currency="EUR">.*?class="num count">(\d+)<'
                      r'.*?class="num amount">([^<]+)<', payouts, re.S) == [
        ("failed", "1", "€7.00"), ("paid", "1", "€60.00")]
    refunds = re.search(r'<table id="refunds-by-status"[^>]*>.*?</table>', page, re.S).group(0)
    assert 'data-status="succeeded"' in refunds and "€12.00" in refunds
    disputes = re.search(r'<table id="disputes-by-status"[^>]*>.*?</table>', page, re.S).group(0)
    assert 'data-status="lost"' in disputes and "€30.00" in disputes


def test_last_month_and_the_last_twelve(client, books):
    log_in(client, books["admin"])

    last = client.get("/admin/finance?period=last_month").get_data(as_text=True)
    year = client.get("/admin/finance?period=last_12_months").get_data(as_text=True)

    assert [cell(last, "currency", "EUR", c) for c in ("earned", "reversed", "net")] == [
        "€20.00", "€0.00", "€20.00"]
    assert "JPY" not in re.search(r'<table id="revenue"[^>]*>.*?</table>', last, re.S).group(0)
    assert [cell(year, "currency", "EUR", c) for c in ("earned", "reversed", "net")] == [
        _eur(30_00 + books["fee"]), "€1.00", _eur(29_00 + books["fee"])]


def test_the_chart_has_a_bar_per_month_sized_by_net_revenue(client, books):
    log_in(client, books["admin"])

    page = client.get("/admin/finance").get_data(as_text=True)

    eur = re.search(r'<figure data-currency="EUR">.*?</figure>', page, re.S).group(0)
    bars = re.findall(r'<rect class="bar[^"]*" x="[\d.]+" y="([\d.]+)" width="[\d.]+" '
                      r'height="([\d.]+)" data-month="([\d-]+)" data-amount="(-?\d+)"', eur)
    assert len(bars) == 12
    assert [(month, int(amount)) for _y, _h, month, amount in bars][-2:] == [
        (books["last"].key, 20_00), (books["this"].key, 9_00 + books["fee"])]
    heights = {month: float(height) for _y, height, month, _a in bars}
    assert heights[books["last"].key] == 160.0  # the largest month fills the chart
    assert heights[books["this"].key] == pytest.approx(160 * (9_00 + books["fee"]) / 20_00,
                                                       abs=0.01)
    assert sum(1 for _y, h, _m, _a in bars if float(h) == 0) == 10


def test_a_bad_period_is_refused(client, books):
    log_in(client, books["admin"])

    response = client.get("/admin/finance?period=forever")

    assert response.status_code == 422
    assert "Choose this month, last month or the last 12 months." in response.get_data(
        as_text=True)


def test_only_admins_see_the_finance_pages(client, books):
    owner = make_person("owner@example.com")
    make_vendor("Own Shop", owner=owner)
    db.session.commit()

    anonymous = client.get("/admin/finance")
    log_in(client, owner)
    as_vendor = [client.get(url).status_code for url in ("/admin/finance",
                                                         "/admin/finance/reconciliation")]
    log_in(client, books["admin"])
    dashboard = client.get("/admin/").get_data(as_text=True)

    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert as_vendor == [403, 403]
    assert '<a href="/admin/finance">Finance</a>' in dashboard
