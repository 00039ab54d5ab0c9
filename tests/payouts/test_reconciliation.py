"""The reconciliation report: the ledger and our payment rows against the gateway's records,
with the sandbox and with the fake Stripe server; the admin page and the command."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.models import Role
from marketplace.payments import provider, stripe_records
from marketplace.payments.models import IntentStatus, SandboxPaymentIntent, SandboxTransfer
from payouts import reconciliation
from payouts.models import Payout, PayoutStatus
from payouts.reconciliation import Kind, Problem
from payouts.statement_export import Month
from tests.factories import make_user
from tests.fakes.stripe_server import FakeStripe, stripe_configured
from tests.payouts.finance_support import (
    paid_order,
    post_payout,
    post_settle,
    sent_payout,
    succeeded_refund,
    succeeded_reversal,
)
from tests.payouts.payout_factories import make_payable_vendor
from tests.vendors.factories import make_person
from tests.vendors.pages import cell, log_in


def _this_month() -> reconciliation.Reconciliation:
    month = Month.of(dt.datetime.now(dt.UTC))
    return reconciliation.reconcile(month.start, month.end)


def _found(result) -> list[tuple[str, str, str, int | None, int | None]]:
    return [(m.kind.value, m.problem.value, m.reference, m.ours_minor, m.provider_minor)
            for m in result.mismatches]


def clean_flow(fake_stripe: FakeStripe | None = None) -> dict:
    """A paid order of 40.00, 10.00 of it refunded, the rest released and paid out, and
    5.00 of that payout reversed: every object on both sides, all agreeing."""
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    order = paid_order(make_person("buyer@example.com"), vendor, 40_00,
                       fake_stripe=fake_stripe)
    refund = succeeded_refund(order, 10_00)
    post_settle(vendor, 30_00)
    db.session.commit()
    payout = sent_payout(vendor)
    reversal = succeeded_reversal(payout, 5_00)
    db.session.commit()
    return {"vendor": vendor, "order": order, "refund": refund, "payout": payout,
            "reversal": reversal}


def test_a_clean_sandbox_flow_reconciles(app):
    clean_flow()

    result = _this_month()

    assert result.mismatches == []
    assert result.checked == {Kind.CHARGE: 1, Kind.REFUND: 1, Kind.TRANSFER: 1,
                              Kind.REVERSAL: 1}


def test_charge_mismatches(app):
    vendor = make_payable_vendor()
    buyer = make_person("buyer@example.com")
    short = paid_order(buyer, vendor, 40_00, received_minor=39_00)
    uncaptured = paid_order(buyer, vendor, 25_00, capture_it=False)
    ghost = paid_order(buyer, vendor, 15_00)
    ghost.payment_intent_id = "pi_sbx_nowhere"  # the ledger's order, unknown to the gateway
    stray = provider().create_payment_intent(amount_minor=7_00, currency="EUR",
                                             transfer_group="elsewhere", idempotency_key="x",
                                             metadata={})
    intent = db.session.get(SandboxPaymentIntent, stray.id)
    intent.status, intent.charge_id = IntentStatus.SUCCEEDED, "ch_sbx_stray"
    db.session.commit()

    result = _this_month()

    assert sorted(_found(result)) == sorted([
        ("charge", "amount", short.number, 40_00, 39_00),
        ("charge", "amount", uncaptured.number, 0, 25_00),
        ("charge", "missing_at_provider", ghost.number, 15_00, None),
        # The payment the ghost order no longer names is one the ledger doesn't know, too.
        ("charge", "unknown_to_ledger", "", None, 15_00),
        ("charge", "unknown_to_ledger", "", None, 7_00),
    ])
    assert result.checked[Kind.CHARGE] == 3


def test_refund_mismatches(app):
    vendor = make_payable_vendor()
    order = paid_order(make_person("buyer@example.com"), vendor, 90_00)
    differs = succeeded_refund(order, 10_00, provider_amount=9_00)
    unposted = succeeded_refund(order, 8_00, in_ledger=False)
    not_sent = succeeded_refund(order, 6_00, at_provider=False)
    stray = provider().create_refund(payment_intent_id=order.payment_intent_id,
                                     amount_minor=4_00, idempotency_key="dashboard-refund",
                                     metadata={})
    db.session.commit()

    result = _this_month()

    assert sorted(_found(result)) == sorted([
        ("refund", "amount", f"refund-{differs.id}", 10_00, 9_00),
        ("refund", "missing_in_ledger", f"refund-{unposted.id}", 8_00, None),
        ("refund", "missing_at_provider", f"refund-{not_sent.id}", 6_00, None),
        ("refund", "unknown_to_ledger", "", None, 4_00),
    ])
    assert [m.provider_id for m in result.of(Kind.REFUND)
            if m.problem == Problem.UNKNOWN_TO_LEDGER] == [stray]


def test_transfer_mismatches(app):
    vendor = make_payable_vendor()
    other = make_payable_vendor("Other Shop")
    for shop, amount in ((vendor, 30_00), (other, 20_00)):
        paid_order(make_person(f"buyer{shop.id}@example.com"), shop, amount)
        post_settle(shop, amount)
    db.session.commit()
    altered = sent_payout(vendor)
    db.session.get(SandboxTransfer, altered.transfer_id).amount_minor = 29_00
    unsent = post_payout(other, 20_00)  # paid here, never transferred
    stray = provider().create_transfer(amount_minor=3_00, currency="EUR",
                                       destination=vendor.payout_account_id,
                                       transfer_group="manual", source_transaction=None,
                                       idempotency_key="dashboard-transfer", metadata={})
    db.session.commit()

    result = _this_month()

    assert sorted(_found(result)) == sorted([
        ("transfer", "amount", f"payout-{altered.id}", 30_00, 29_00),
        ("transfer", "missing_at_provider", f"payout-{unsent.id}", 20_00, None),
        ("transfer", "unknown_to_ledger", "manual", None, 3_00),
    ])
    assert [m.provider_id for m in result.mismatches
            if m.problem == Problem.UNKNOWN_TO_LEDGER] == [stray]


def test_a_transfer_of_a_failed_payout_is_named(app):
    vendor = make_payable_vendor()
    paid_order(make_person("buyer@example.com"), vendor, 30_00)
    post_settle(vendor, 30_00)
    db.session.commit()
    payout = sent_payout(vendor)
    # As if the answer had been lost and the payout failed, though the transfer went.
    db.session.execute(sa.update(Payout).where(Payout.id == payout.id)
                       .values(status=PayoutStatus.FAILED, transfer_id=None))
    db.session.commit()

    (mismatch,) = _this_month().mismatches

    assert (mismatch.problem, mismatch.reference) == (Problem.UNKNOWN_TO_LEDGER,
                                                      f"payout-{payout.id}")
    assert f"is for payout {payout.id}, which is failed here" in mismatch.detail


def test_reversal_mismatches(app):
    flow = clean_flow()
    payout = flow["payout"]
    differs = succeeded_reversal(payout, 3_00, provider_amount=2_00)
    unposted = succeeded_reversal(payout, 1_00, in_ledger=False)
    provider().reverse_transfer(transfer_id=payout.transfer_id, amount_minor=50,
                                idempotency_key="dashboard-reversal")
    db.session.commit()

    result = _this_month()

    assert sorted(_found(result)) == sorted([
        ("reversal", "amount", f"reversal-{differs.id}", 3_00, 2_00),
        ("reversal", "missing_in_ledger", f"reversal-{unposted.id}", 1_00, None),
        ("reversal", "unknown_to_ledger", "", None, 50),
    ])
    assert result.checked[Kind.REVERSAL] == 3


def test_objects_outside_the_period_are_left_alone(app):
    clean_flow()
    last = Month.of(dt.datetime.now(dt.UTC)).previous()

    result = reconciliation.reconcile(last.start, last.end)

    assert (result.mismatches, set(result.checked.values())) == ([], {0})


# --- Stripe ---------------------------------------------------------------------------------


@pytest.fixture
def fake_stripe(app) -> Iterator[FakeStripe]:
    with stripe_configured(app) as fake:
        yield fake


def test_a_clean_stripe_flow_reconciles_through_the_list_endpoints(app, fake_stripe,
                                                                   monkeypatch):
    monkeypatch.setattr(stripe_records, "PAGE_SIZE", 1)  # every list takes several pages
    flow = clean_flow(fake_stripe)
    paid_order(make_person("second@example.com"), flow["vendor"], 12_00,
               fake_stripe=fake_stripe)
    db.session.commit()

    result = _this_month()

    assert result.mismatches == []
    assert result.checked == {Kind.CHARGE: 2, Kind.REFUND: 1, Kind.TRANSFER: 1,
                              Kind.REVERSAL: 1}
    listed = {r.path for r in fake_stripe.requests if r.method == "GET"}
    assert {"/v1/payment_intents", "/v1/refunds", "/v1/transfers",
            f"/v1/transfers/{flow['payout'].transfer_id}/reversals"} <= listed
    pages = [r.params for r in fake_stripe.requests if r.path == "/v1/payment_intents"
             and r.method == "GET"]
    assert pages[0]["created"].keys() == {"gte", "lt"}
    assert any("starting_after" in page for page in pages)


def test_stripe_mismatches_are_found(app, fake_stripe):
    flow = clean_flow(fake_stripe)
    fake_stripe.refunds[flow["refund"].provider_refund_id]["amount"] = 9_00
    intent = fake_stripe.payment_intents[flow["order"].payment_intent_id]
    stray = provider().create_transfer(
        amount_minor=2_00, currency="EUR", destination=flow["vendor"].payout_account_id,
        transfer_group="manual", source_transaction=intent["latest_charge"],
        idempotency_key="dashboard", metadata={})

    result = _this_month()

    assert sorted(_found(result)) == sorted([
        ("refund", "amount", f"refund-{flow['refund'].id}", 10_00, 9_00),
        ("transfer", "unknown_to_ledger", "manual", None, 2_00),
    ])
    assert result.of(Kind.TRANSFER)[0].provider_id == stray


def test_a_provider_that_cannot_be_read_is_reported(app, fake_stripe, client):
    admin = make_user("admin@example.com", role=Role.ADMIN)
    db.session.commit()
    fake_stripe.fail_next("GET", "/v1/payment_intents", status=401,
                          error_type="invalid_request_error", message="Invalid API Key")
    log_in(client, admin)

    response = client.get("/admin/finance/reconciliation")

    assert response.status_code == 503
    assert "The payment provider could not be read" in response.get_data(as_text=True)


# --- the page and the command ---------------------------------------------------------------


def test_the_admin_page_lists_every_mismatch(app, client):
    admin = make_user("admin@example.com", role=Role.ADMIN)
    flow = clean_flow()
    unposted = succeeded_refund(flow["order"], 2_00, in_ledger=False)
    db.session.commit()
    log_in(client, admin)

    page = client.get("/admin/finance/reconciliation").get_data(as_text=True)
    clean_last_month = client.get("/admin/finance/reconciliation?month="
                                  f"{Month.of(utcnow()).previous().key}").get_data(as_text=True)
    bad = client.get("/admin/finance/reconciliation?month=2026-13")

    assert [cell(page, "kind", kind, "checked") for kind in ("charge", "refund", "transfer",
                                                             "reversal")] == [
        "1", "2", "1", "1"]
    row = re.search(r'<tr data-kind="refund" data-problem="missing_in_ledger">(.*?)</tr>', page,
                    re.S).group(1)
    assert f"refund-{unposted.id}" in row and "€2.00" in row
    assert 'id="reconciled" data-state="mismatches"' in page
    assert 'id="reconciled" data-state="ok"' in clean_last_month
    assert bad.status_code == 422


def test_the_reconcile_command_exits_1_on_a_mismatch(app):
    flow = clean_flow()
    runner = app.test_cli_runner()

    clean = runner.invoke(args=["marketplace", "reconcile"])
    succeeded_refund(flow["order"], 2_00, in_ledger=False)
    db.session.commit()
    broken = runner.invoke(args=["marketplace", "reconcile",
                                 "--month", Month.of(utcnow()).key])
    bad_month = runner.invoke(args=["marketplace", "reconcile", "--month", "2026-13"])

    assert clean.exit_code == 0, clean.output
    assert "ok   charges: 1 checked, 0 mismatch(es)" in clean.output
    assert clean.output.rstrip().endswith("The ledger and the provider agree.")
    assert broken.exit_code == 1, broken.output
    assert "MISMATCH  refunds: 2 checked, 1 mismatch(es)" in broken.output
    assert "[missing_in_ledger]" in broken.output
    assert bad_month.exit_code == 2 and "months run from 01 to 12" in bad_month.output


def test_a_later_reversal_of_an_older_transfer_shows_in_the_transfers_month(app):
    vendor = make_payable_vendor()
    paid_order(make_person("buyer@example.com"), vendor, 30_00)
    post_settle(vendor, 30_00)
    db.session.commit()
    payout = sent_payout(vendor)
    last = Month.of(utcnow()).previous()
    # The payout and its transfer were made last month...
    db.session.get(SandboxTransfer, payout.transfer_id).created_at = last.start + dt.timedelta(
        days=5)
    payout.completed_at = last.start + dt.timedelta(days=5)
    # ... and someone reversed part of it at the provider today.
    stray = provider().reverse_transfer(transfer_id=payout.transfer_id, amount_minor=4_00,
                                        idempotency_key="dashboard-reversal")
    db.session.commit()

    result = reconciliation.reconcile(last.start, last.end)

    assert [(m.kind, m.problem, m.provider_id) for m in result.mismatches] == [
        (Kind.REVERSAL, Problem.UNKNOWN_TO_LEDGER, stray)]
    assert result.checked[Kind.TRANSFER] == 1
