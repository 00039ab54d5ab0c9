"""The vendor's "Balance & payouts" pages, the admin's payouts list, and the payouts command."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import Role
from payouts import payouts
from payouts.models import Payout, PayoutStatus
from tests.factories import make_user, make_vendor
from tests.payouts.payout_factories import fund, make_payable_vendor
from tests.vendors.factories import make_member, make_person
from tests.vendors.pages import cell, log_in, text
from vendors.models import MemberRole, VendorStatus


@pytest.fixture(autouse=True)
def _request_context(app) -> Iterator[None]:
    with app.test_request_context():
        yield


def _by_id(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</p>', page, re.S)
    assert match, f"no #{element_id}"
    return text(match.group(1))


def test_the_balance_page_shows_balances_the_next_payout_and_the_history(client):
    owner = make_person("ingrid@example.com")
    vendor = make_payable_vendor(owner=owner)
    fund(vendor, 80_00)
    db.session.commit()
    payouts.create_due_payouts()
    run_queued_jobs()
    fund(vendor, 25_00)
    fund(vendor, 12_00, settled=False)
    db.session.commit()
    payout = db.session.scalars(sa.select(Payout)).one()
    log_in(client, owner)

    page = client.get("/vendor/balance").get_data(as_text=True)

    assert [cell(page, "currency", "EUR", c) for c in ("pending", "available", "paid-out")] == [
        "€12.00", "€25.00", "€80.00"]
    assert re.search(r'id="upcoming" data-state="due"', page)
    assert _by_id(page, "upcoming").endswith("€25.00")
    assert _by_id(page, "schedule") == "Your available balance is paid out every Monday."
    assert [cell(page, "payout", payout.id, c) for c in ("status", "amount")] == [
        "Paid", "€80.00"]
    assert [text(link) for link in re.findall(
        r'<a href="/vendor/balance" aria-current="page">(.*?)</a>', page)] == ["Balance & payouts"]


def test_a_new_shop_sees_empty_states(client):
    owner = make_person("new@example.com")
    make_payable_vendor("New Shop", owner=owner)
    db.session.commit()
    log_in(client, owner)

    page = client.get("/vendor/balance").get_data(as_text=True)
    transactions = client.get("/vendor/balance/transactions").get_data(as_text=True)

    assert _by_id(page, "no-balance").startswith("No sales paid yet.")
    assert _by_id(page, "upcoming") == "Nothing to pay out yet."
    assert _by_id(page, "no-payouts") == "No payouts yet."
    assert _by_id(transactions, "no-transactions") == "No transactions yet."


def test_a_shop_without_enabled_payouts_sees_why_it_is_held(client):
    owner = make_person("held@example.com")
    vendor = make_vendor("Held Shop", owner=owner)
    fund(vendor, 30_00)
    db.session.commit()
    log_in(client, owner)

    page = client.get("/vendor/balance").get_data(as_text=True)

    assert _by_id(page, "upcoming") == ("Payouts are on hold until your payout account is "
                                        "connected and enabled.")


def test_the_transaction_history_shows_each_movement_and_pages(client):
    owner = make_person("ingrid@example.com")
    vendor = make_payable_vendor(owner=owner)
    fund(vendor, 10_00)
    fund(vendor, 20_00, settled=False)
    db.session.commit()
    log_in(client, owner)

    first = client.get("/vendor/balance/transactions?per_page=2").get_data(as_text=True)
    second = client.get("/vendor/balance/transactions?per_page=2&page=2").get_data(as_text=True)

    rows = [(text(kind), text(p), text(a)) for kind, p, a in re.findall(
        r'<td class="kind">(.*?)</td>\s*<td class="num pending">(.*?)</td>\s*'
        r'<td class="num available">(.*?)</td>', first + second, re.S)]
    assert rows == [("Sale paid", "€20.00", ""), ("Released for payout", "-€10.00", "€10.00"),
                    ("Sale paid", "€10.00", "")]
    assert "Page 1 of 2" in first and 'rel="next"' in first


def test_page_numbers_that_are_not_numbers_are_refused(client):
    owner = make_person("ingrid@example.com")
    make_payable_vendor(owner=owner)
    db.session.commit()
    log_in(client, owner)

    response = client.get("/vendor/balance?page=abc")

    assert response.status_code == 422
    assert "page" in response.get_data(as_text=True)


def test_staff_may_not_see_the_balance(client):
    owner = make_person("ingrid@example.com")
    vendor = make_payable_vendor(owner=owner)
    staff = make_member(vendor, MemberRole.STAFF, email="staff@example.com")
    db.session.commit()
    log_in(client, staff)

    response = client.get("/vendor/balance")

    assert response.status_code == 403
    assert "Only owners and managers can see payout settings." in response.get_data(as_text=True)


def test_admins_list_payouts_by_status(client):
    admin = make_user("admin@example.com", role=Role.ADMIN)
    paid_vendor = make_payable_vendor("Paid Shop")
    pending_vendor = make_payable_vendor("Waiting Shop")
    fund(paid_vendor, 10_00)
    fund(pending_vendor, 7_00)
    db.session.commit()
    paid = payouts.create_payout(paid_vendor.id, "EUR")
    db.session.commit()
    payouts.send_payout(paid.id)
    waiting = payouts.create_payout(pending_vendor.id, "EUR")
    db.session.commit()
    log_in(client, admin)

    everything = client.get("/admin/payouts").get_data(as_text=True)
    only_paid = client.get("/admin/payouts?status=paid").get_data(as_text=True)
    bad = client.get("/admin/payouts?status=lost")

    assert [cell(everything, "payout", waiting.id, c) for c in ("vendor", "status", "amount")] \
        == ["Waiting Shop", "Scheduled", "€7.00"]
    assert cell(only_paid, "payout", paid.id, "status") == "Paid"
    assert f'data-payout="{waiting.id}"' not in only_paid
    assert bad.status_code == 422
    assert '<a href="/admin/payouts">Payouts</a>' in client.get("/admin/").get_data(as_text=True)


def test_only_admins_see_the_payouts_list(client):
    buyer = make_user("buyer@example.com")
    db.session.commit()
    log_in(client, buyer)

    assert client.get("/admin/payouts").status_code == 403


def test_the_payouts_command_reports_what_it_did(app):
    vendor = make_payable_vendor()
    held = make_payable_vendor("Held Shop")
    held.status = VendorStatus.SUSPENDED
    fund(vendor, 10_00)
    fund(held, 10_00)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["marketplace", "payouts"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Resolved 0 stuck payout(s): 0 paid, 0 queued again.",
        "Created 1 payout(s); held 1 vendor(s).",
        f"  vendor {held.id}: held (suspended)",
    ]
    assert db.session.scalars(sa.select(Payout.status)).all() == [PayoutStatus.PENDING]
