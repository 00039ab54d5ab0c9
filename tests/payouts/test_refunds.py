"""Refunds: the buyer's money back, and the commission, tax and vendor share clawed back
exactly, before or after settlement and payout, once however often the job runs."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.payments import PaymentProviderError
from marketplace.payments.models import SandboxRefund, SandboxTransfer
from marketplace.payments.sandbox import SandboxProvider
from payouts import clawback, ledger, payouts, refunds
from payouts.books import check_books
from payouts.models import (
    AccountKind,
    LedgerTransaction,
    Payout,
    PayoutStatus,
    Refund,
    RefundInitiator,
    RefundLine,
    RefundStatus,
    ReversalStatus,
    TransactionKind,
    TransferReversal,
)
from payouts.settlement import settle_due
from tests.payouts.ledger_support import postings_of
from tests.payouts.refund_support import (
    balance,
    line_of,
    make_payable,
    paid_days_ago,
    paid_order,
    part_of,
    platform_rule,
    refund_units,
)
from tests.vendors.factories import make_member
from vendors import orders as vendor_orders
from vendors.access import ROLE_PERMISSIONS, Actor
from vendors.models import MemberRole
from vendors.order_models import Order, OrderStatus, SubOrder, SubOrderStatus

PENDING, AVAILABLE = AccountKind.VENDOR_PENDING, AccountKind.VENDOR_AVAILABLE
PAID_OUT, CASH = AccountKind.VENDOR_PAID_OUT, AccountKind.PROVIDER_CASH


@pytest.fixture(autouse=True)
def _request_context(app) -> Iterator[None]:
    # Refusals are translated for whoever clicked, so services run in a request context.
    with app.test_request_context():
        yield


@pytest.fixture
def chairs(client, market):
    """Three oak chairs from Nordic Goods (€387.00: net €325.21, VAT €61.79, 10% commission
    €32.52, the vendor's €292.69), paid; free shipping."""
    platform_rule()
    order = paid_order(client, market.buyer, (market.chair, 3))
    part = part_of(order, market.nordic)
    return order, part, line_of(part)


def _broken() -> dict[str, list[str]]:
    return {check.name: check.examples for check in check_books() if not check.ok}


# --- the parts --------------------------------------------------------------------------------


def test_one_unit_claws_back_exactly_that_units_commission_tax_and_share(app, market, chairs):
    order, part, line = chairs
    assert (line.net_minor, line.tax_minor, line.commission_minor) == (32_521, 6_179, 3_252)

    refund = refund_units(part, line, 1)

    assert (refund.status, refund.amount_minor, refund.tax_minor, refund.commission_minor,
            refund.vendor_share_minor, refund.shipping_minor) == (
        RefundStatus.SUCCEEDED, 12_900, 2_060, 1_084, 9_756, 0)
    assert postings_of(f"refund:{refund.id}") == [
        ("commission_revenue", "provider_cash", 1_084, "EUR"),
        ("tax_payable", "provider_cash", 2_060, "EUR"),
        ("vendor_pending", "provider_cash", 9_756, "EUR"),
    ]
    assert balance(PENDING, market.nordic) == 29_269 - 9_756
    assert balance(CASH) == 38_700 - 12_900
    assert balance(AccountKind.COMMISSION_REVENUE) == 3_252 - 1_084
    assert _broken() == {}


def test_every_unit_in_three_refunds_returns_exactly_the_lines_figures(app, market, chairs):
    order, part, line = chairs

    done = [refund_units(part, line, 1) for _ in range(3)]

    parts = db.session.execute(
        sa.select(sa.func.sum(RefundLine.net_minor), sa.func.sum(RefundLine.tax_minor),
                  sa.func.sum(RefundLine.commission_minor))).one()
    assert tuple(parts) == (32_521, 6_179, 3_252)
    assert [r.amount_minor for r in done] == [12_900, 12_900, 12_900]
    assert [r.vendor_share_minor for r in done] == [9_756, 9_757, 9_756]
    assert sum(r.amount_minor for r in done) == line.total_minor
    assert (balance(PENDING, market.nordic), balance(CASH),
            balance(AccountKind.TAX_PAYABLE), balance(AccountKind.COMMISSION_REVENUE)) == (
        0, 0, 0, 0)
    assert _broken() == {}


def test_shipping_is_refunded_with_its_share_of_the_tax(app, client, market):
    platform_rule()
    order = paid_order(client, market.buyer, (market.lamp, 1))
    part = part_of(order, market.atelier)
    line = line_of(part)
    # €45.00 lamp + €5.00 shipping, both with 19% VAT included: €0.80 of the shipping is tax.

    refund = refund_units(part, line, 1, shipping_minor=500)

    assert (refund.amount_minor, refund.shipping_minor, refund.tax_minor) == (
        5_000, 500, line.tax_minor + 80)
    assert refund.vendor_share_minor == (line.net_minor - line.commission_minor) + 420
    assert balance(PENDING, market.atelier) == 0
    assert refunds.refundable(part.id).anything is False
    assert _broken() == {}


# --- before and after settlement ----------------------------------------------------------------


def test_a_refund_before_settlement_leaves_only_the_rest_to_release(app, market, chairs):
    order, part, line = chairs
    paid_days_ago(order, 8)
    refund_units(part, line, 1)

    run = settle_due()

    assert run.settled == 1
    assert postings_of(f"settle:sub_order:{part.id}") == [
        ("vendor_pending", "vendor_available", 29_269 - 9_756, "EUR")]
    assert (balance(PENDING, market.nordic), balance(AVAILABLE, market.nordic)) == (
        0, 19_513)
    assert _broken() == {}


def test_a_sub_order_refunded_in_full_before_settlement_is_not_settled(app, market, chairs):
    order, part, line = chairs
    paid_days_ago(order, 8)
    refund_units(part, line, 3)

    run = settle_due()

    assert run.settled == 0
    assert db.session.scalar(sa.select(LedgerTransaction.id).where(
        LedgerTransaction.idempotency_key == f"settle:sub_order:{part.id}")) is None
    assert (balance(PENDING, market.nordic), balance(AVAILABLE, market.nordic)) == (0, 0)
    assert _broken() == {}


def test_a_refund_after_settlement_comes_from_the_available_balance(app, market, chairs):
    order, part, line = chairs
    paid_days_ago(order, 8)
    settle_due()

    refund = refund_units(part, line, 1)

    assert ("vendor_available", "provider_cash", 9_756, "EUR") in postings_of(
        f"refund:{refund.id}")
    assert (balance(PENDING, market.nordic), balance(AVAILABLE, market.nordic)) == (
        0, 29_269 - 9_756)
    assert _broken() == {}


def test_a_refund_after_the_payout_reverses_the_transfer(app, market, chairs):
    order, part, line = chairs
    make_payable(market.nordic)
    paid_days_ago(order, 8)
    settle_due()
    payout = payouts.create_payout(market.nordic.id, "EUR")
    db.session.commit()
    run_queued_jobs()  # the transfer of €292.69

    refund = refund_units(part, line, 1)

    reversal = db.session.scalars(sa.select(TransferReversal)).one()
    transfer = db.session.scalars(sa.select(SandboxTransfer)).one()
    assert (reversal.payout_id, reversal.refund_id, reversal.amount_minor, reversal.status) == (
        payout.id, refund.id, 9_756, ReversalStatus.SUCCEEDED)
    assert transfer.amount_reversed == 9_756
    assert postings_of(f"reversal:{reversal.id}") == [
        ("vendor_paid_out", "vendor_available", 9_756, "EUR")]
    assert (balance(AVAILABLE, market.nordic), balance(PAID_OUT, market.nordic)) == (
        0, 29_269 - 9_756)
    assert _broken() == {}


def test_a_balance_taken_below_zero_is_netted_against_the_next_earnings(app, client, market,
                                                                      chairs, monkeypatch):
    order, part, line = chairs
    make_payable(market.nordic)
    paid_days_ago(order, 8)
    settle_due()
    payouts.create_payout(market.nordic.id, "EUR")
    db.session.commit()
    run_queued_jobs()  # €292.69 paid out

    def refuse(self, **kwargs):  # e.g. the vendor's connected account has no funds left
        raise PaymentProviderError("Insufficient funds in the connected account.")

    monkeypatch.setattr(SandboxProvider, "reverse_transfer", refuse)
    refund_units(part, line, 1)

    reversal = db.session.scalars(sa.select(TransferReversal)).one()
    assert (reversal.status, reversal.failure_reason) == (
        ReversalStatus.FAILED, "Insufficient funds in the connected account.")
    assert balance(AVAILABLE, market.nordic) == -9_756
    assert payouts.create_payout(market.nordic.id, "EUR") is None  # nothing to pay out
    later = paid_order(client, market.buyer, (market.chair, 1))
    share = balance(PENDING, market.nordic)  # the next sale's share for the vendor
    paid_days_ago(later, 8)
    settle_due()
    assert share == 10_168  # €129.00 + €4.90 shipping - €21.38 VAT - €10.84 commission
    assert balance(AVAILABLE, market.nordic) == 10_168 - 9_756
    assert payouts.create_payout(market.nordic.id, "EUR").amount_minor == 412
    db.session.commit()
    assert _broken() == {}


def test_take_back_empties_the_sub_orders_pending_share_before_touching_available(app, market,
                                                                                  chairs):
    order, part, line = chairs
    pending = ledger.account(PENDING, "EUR", vendor_id=market.nordic.id)
    available = ledger.account(AVAILABLE, "EUR", vendor_id=market.nordic.id)

    before = clawback.take_back(vendor_id=market.nordic.id, currency="EUR",
                                amount_minor=30_000, sub_order_id=part.id)
    paid_days_ago(order, 8)
    settle_due()
    after = clawback.take_back(vendor_id=market.nordic.id, currency="EUR", amount_minor=500,
                               sub_order_id=part.id)

    assert before == [(pending.id, 29_269), (available.id, 731)]
    assert after == [(available.id, 500)]
    assert clawback.take_back(vendor_id=market.nordic.id, currency="EUR", amount_minor=0,
                              sub_order_id=part.id) == []


# --- what may be refunded ---------------------------------------------------------------------


def test_more_units_than_are_left_are_refused_with_a_clear_message(app, market, chairs):
    order, part, line = chairs
    refund_units(part, line, 2, approve=False)  # requested: the two units are held

    with pytest.raises(refunds.RefundError) as refused:
        refunds.create_refund(part.id, {line.id: 2}, initiated_by=RefundInitiator.BUYER,
                              user_id=market.buyer.id, reason="Wobbly", approve=False)
    db.session.rollback()

    assert refused.value.message == "Only 1 of “Oak Chair” can still be refunded."
    assert db.session.scalar(sa.select(sa.func.count(Refund.id))) == 1


def test_a_declined_request_gives_its_units_back(app, market, chairs):
    order, part, line = chairs
    requested = refund_units(part, line, 3, approve=False)
    refunds.decline(requested.id, None, "Please send them back first")
    db.session.commit()

    again = refund_units(part, line, 3)

    assert (db.session.get(Refund, requested.id).status, again.status) == (
        RefundStatus.DECLINED, RefundStatus.SUCCEEDED)


@pytest.mark.parametrize(("lines", "shipping", "message"), [
    ({}, 0, "Choose at least one item or some shipping to refund."),
    ({"other": 1}, 0, "That item is not part of this order."),
    ({"line": -1}, 0, "Quantities can't be negative."),
    ({}, 1, "At most €0.00 of shipping can still be refunded."),
])
def test_bad_refunds_are_refused(app, market, chairs, lines, shipping, message):
    order, part, line = chairs
    ids = {"line": line.id, "other": line.id + 1_000}

    with pytest.raises(refunds.RefundError) as refused:
        refunds.create_refund(part.id, {ids[k]: v for k, v in lines.items()},
                              shipping_minor=shipping, initiated_by=RefundInitiator.ADMIN,
                              user_id=None, reason="", approve=True)

    assert refused.value.message == message


def test_an_unpaid_order_has_nothing_to_refund(app, client, market):
    from tests.payouts.ledger_support import checkout

    order = checkout(client, market.buyer, (market.lamp, 1))
    part = part_of(order, market.atelier)

    with pytest.raises(refunds.RefundError) as refused:
        refunds.create_refund(part.id, {line_of(part).id: 1}, initiated_by=RefundInitiator.ADMIN,
                              user_id=None, reason="", approve=True)

    assert refused.value.message == "This order has no captured payment to refund."


# --- the job ------------------------------------------------------------------------------------


def test_the_job_run_twice_refunds_and_posts_once(app, market, chairs):
    order, part, line = chairs
    refund = refund_units(part, line, 1)

    again = refunds.process_refund(refund.id)

    assert again == "skipped"
    assert db.session.scalar(sa.select(sa.func.count(SandboxRefund.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id)).where(
        LedgerTransaction.kind == TransactionKind.REFUND)) == 1


def test_a_refusal_fails_the_refund_and_posts_nothing(app, market, chairs, monkeypatch):
    order, part, line = chairs

    def refuse(self, **kwargs):
        raise PaymentProviderError("The charge was disputed.", code="charge_disputed")

    monkeypatch.setattr(SandboxProvider, "create_refund", refuse)
    refund = refund_units(part, line, 1)

    assert (refund.status, refund.failure_reason) == (RefundStatus.FAILED,
                                                      "The charge was disputed.")
    assert postings_of(f"refund:{refund.id}") == []
    assert refunds.refundable(part.id).lines == {line.id: 3}


def test_a_lost_answer_is_retried_by_the_reconciler_with_the_same_key(app, market, chairs,
                                                                      monkeypatch):
    order, part, line = chairs
    real = SandboxProvider.create_refund
    keys = []

    def timeout(self, **kwargs):
        keys.append(kwargs["idempotency_key"])
        raise PaymentProviderError("The provider did not answer.", retryable=True)

    monkeypatch.setattr(SandboxProvider, "create_refund", timeout)
    refund = refund_units(part, line, 1)
    assert refund.status == RefundStatus.PROCESSING
    monkeypatch.setattr(SandboxProvider, "create_refund", real)

    soon = refunds.reconcile_stuck_refunds()
    later = refunds.reconcile_stuck_refunds(utcnow() + dt.timedelta(minutes=20))

    assert (soon, later) == ({}, {refund.id: "succeeded"})
    assert keys == [f"refund-{refund.id}"]
    sandbox_refund = db.session.scalars(sa.select(SandboxRefund)).one()
    assert db.session.get(Refund, refund.id).provider_refund_id == sandbox_refund.id
    assert _broken() == {}


def test_a_refund_stuck_past_the_providers_key_window_is_held_not_replayed(app, market, chairs,
                                                                          monkeypatch, caplog):
    order, part, line = chairs
    calls = []

    def timeout(self, **kwargs):
        calls.append(kwargs["idempotency_key"])
        raise PaymentProviderError("The provider did not answer.", retryable=True)

    monkeypatch.setattr(SandboxProvider, "create_refund", timeout)
    refund = refund_units(part, line, 1)

    held = refunds.reconcile_stuck_refunds(utcnow() + dt.timedelta(hours=21))

    # A day on, the provider may have forgotten the key: a replay could refund twice.
    assert held == {refund.id: "held"}
    assert calls == [f"refund-{refund.id}"]
    assert db.session.get(Refund, refund.id).status == RefundStatus.PROCESSING
    assert "refund stuck past the provider's retry window" in caplog.text


def _held_a_day(refund: Refund) -> None:
    db.session.execute(sa.update(Refund).where(Refund.id == refund.id)
                       .values(claimed_at=utcnow() - dt.timedelta(hours=21)))
    db.session.commit()


def test_a_held_refund_found_at_the_provider_is_recorded_and_posted(app, market, chairs,
                                                                    monkeypatch):
    order, part, line = chairs
    real = SandboxProvider.create_refund

    def timeout(self, **kwargs):
        raise PaymentProviderError("The provider did not answer.", retryable=True)

    monkeypatch.setattr(SandboxProvider, "create_refund", timeout)
    refund = refund_units(part, line, 1)
    monkeypatch.setattr(SandboxProvider, "create_refund", real)
    _held_a_day(refund)
    cli = app.test_cli_runner()

    listed = cli.invoke(args=["marketplace", "refunds"])
    recorded = cli.invoke(args=["marketplace", "refunds", "--found",
                                f"refund:{refund.id}=re_found_by_hand"])
    db.session.expire_all()

    assert listed.exit_code == 0
    assert f"were not retried (the provider may have forgotten their idempotency keys): " \
           f"refund:{refund.id}." in listed.stderr
    assert (recorded.exit_code, recorded.stdout) == (0, f"refund:{refund.id}: succeeded\n")
    done = db.session.get(Refund, refund.id)
    assert (done.status, done.provider_refund_id) == (RefundStatus.SUCCEEDED, "re_found_by_hand")
    assert db.session.scalars(sa.select(SandboxRefund)).all() == []  # nothing sent again
    assert postings_of(f"refund:{refund.id}") != []
    assert _broken() == {}


def test_a_held_refund_the_provider_never_made_is_sent_again(app, market, chairs, monkeypatch):
    order, part, line = chairs
    real = SandboxProvider.create_refund

    def timeout(self, **kwargs):
        raise PaymentProviderError("The provider did not answer.", retryable=True)

    monkeypatch.setattr(SandboxProvider, "create_refund", timeout)
    refund = refund_units(part, line, 1)
    monkeypatch.setattr(SandboxProvider, "create_refund", real)
    _held_a_day(refund)
    cli = app.test_cli_runner()

    resent = cli.invoke(args=["marketplace", "refunds", "--resend", f"refund:{refund.id}"])
    again = cli.invoke(args=["marketplace", "refunds", "--resend", f"refund:{refund.id}"])
    garbled = cli.invoke(args=["marketplace", "refunds", "--found", f"refund:{refund.id}"])
    db.session.expire_all()

    assert (resent.exit_code, resent.stdout) == (0, f"refund:{refund.id}: succeeded\n")
    assert again.exit_code == 1
    assert "This refund is not waiting for the provider: Refunded." in again.stderr
    assert garbled.exit_code == 2
    assert "write it as refund:12=re_123 or reversal:3=trr_456" in garbled.stderr
    assert db.session.scalar(sa.select(sa.func.count(SandboxRefund.id))) == 1
    assert db.session.get(Refund, refund.id).status == RefundStatus.SUCCEEDED
    assert _broken() == {}


def test_a_lost_reversal_answer_is_retried_then_held_once_the_key_may_be_forgotten(
        app, market, chairs, monkeypatch):
    order, part, line = chairs
    make_payable(market.nordic)
    paid_days_ago(order, 8)
    settle_due()
    payouts.create_payout(market.nordic.id, "EUR")
    db.session.commit()
    run_queued_jobs()  # the transfer of €292.69
    real = SandboxProvider.reverse_transfer
    calls = []

    def timeout(self, **kwargs):
        calls.append(kwargs["idempotency_key"])
        raise PaymentProviderError("The provider did not answer.", retryable=True)

    monkeypatch.setattr(SandboxProvider, "reverse_transfer", timeout)
    refund_units(part, line, 1)
    reversal = db.session.scalars(sa.select(TransferReversal)).one()
    assert reversal.status == ReversalStatus.PROCESSING
    monkeypatch.setattr(SandboxProvider, "reverse_transfer", real)

    too_late = clawback.reconcile_stuck_reversals(utcnow() + dt.timedelta(hours=21))
    in_time = clawback.reconcile_stuck_reversals(utcnow() + dt.timedelta(minutes=20))
    db.session.expire_all()

    assert (too_late, in_time) == ({reversal.id: "held"}, {reversal.id: "succeeded"})
    assert calls == [f"reversal-{reversal.id}"]
    assert db.session.scalars(sa.select(SandboxTransfer)).one().amount_reversed == 9_756
    assert _broken() == {}


def test_a_held_reversal_found_at_the_provider_is_recorded_and_posted(app, market, chairs,
                                                                      monkeypatch):
    order, part, line = chairs
    make_payable(market.nordic)
    paid_days_ago(order, 8)
    settle_due()
    payouts.create_payout(market.nordic.id, "EUR")
    db.session.commit()
    run_queued_jobs()  # the transfer of €292.69

    def timeout(self, **kwargs):
        raise PaymentProviderError("The provider did not answer.", retryable=True)

    monkeypatch.setattr(SandboxProvider, "reverse_transfer", timeout)
    refund_units(part, line, 1)
    reversal = db.session.scalars(sa.select(TransferReversal)).one()
    db.session.execute(sa.update(TransferReversal).where(TransferReversal.id == reversal.id)
                       .values(updated_at=utcnow() - dt.timedelta(hours=21)))
    db.session.commit()
    cli = app.test_cli_runner()

    listed = cli.invoke(args=["marketplace", "refunds"])
    recorded = cli.invoke(args=["marketplace", "refunds", "--found",
                                f"reversal:{reversal.id}=trr_by_hand"])
    db.session.expire_all()

    assert f"reversal:{reversal.id}." in listed.stderr
    assert (recorded.exit_code, recorded.stdout) == (0, f"reversal:{reversal.id}: succeeded\n")
    done = db.session.get(TransferReversal, reversal.id)
    assert (done.status, done.provider_reversal_id) == (ReversalStatus.SUCCEEDED, "trr_by_hand")
    assert postings_of(f"reversal:{reversal.id}") == [
        ("vendor_paid_out", "vendor_available", 9_756, "EUR")]
    assert _broken() == {}


# --- called off -----------------------------------------------------------------------------------


def _owner_of(vendor) -> Actor:
    user = make_member(vendor, MemberRole.OWNER)
    return Actor(vendor_id=vendor.id, user_id=user.id, role=MemberRole.OWNER,
                 permissions=ROLE_PERMISSIONS[MemberRole.OWNER])


def test_a_vendor_rejecting_a_paid_sub_order_refunds_it_in_full(app, client, market):
    platform_rule()
    order = paid_order(client, market.buyer, (market.lamp, 1), (market.chair, 1))
    lamp_part = part_of(order, market.atelier)
    actor = _owner_of(market.atelier)

    vendor_orders.reject(actor, lamp_part.id, "Sold out in the shop")
    db.session.commit()
    run_queued_jobs()
    db.session.expire_all()

    refund = db.session.scalars(sa.select(Refund)).one()
    assert (refund.sub_order_id, refund.initiated_by, refund.status, refund.amount_minor,
            refund.shipping_minor, refund.reason) == (
        lamp_part.id, RefundInitiator.VENDOR, RefundStatus.SUCCEEDED, 5_000, 500,
        "Sold out in the shop")
    assert balance(PENDING, market.atelier) == 0
    assert db.session.get(Order, order.id).status == OrderStatus.PAID  # the chair still ships
    assert _broken() == {}


def test_a_vendor_cancelling_an_accepted_sub_order_refunds_it_in_full(app, client, market,
                                                                     chairs):
    order, part, line = chairs
    refund_units(part, line, 1)  # one chair refunded already
    actor = _owner_of(market.nordic)
    vendor_orders.accept(actor, part.id)

    vendor_orders.cancel(actor, part.id, "The workshop burnt down")
    db.session.commit()
    run_queued_jobs()
    db.session.expire_all()

    first, rest = db.session.scalars(sa.select(Refund).order_by(Refund.id)).all()
    assert (rest.initiated_by, rest.status, rest.amount_minor, rest.reason) == (
        RefundInitiator.VENDOR, RefundStatus.SUCCEEDED, 2 * 12_900, "The workshop burnt down")
    assert first.amount_minor + rest.amount_minor == part.total_minor
    assert (balance(PENDING, market.nordic), balance(CASH)) == (0, 0)
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert _broken() == {}


def test_a_cancellation_approves_the_buyers_waiting_request_and_refunds_the_rest(
        app, client, market, chairs):
    order, part, line = chairs
    requested = refund_units(part, line, 1, approve=False)  # the buyer asked for one chair back
    actor = _owner_of(market.nordic)
    vendor_orders.accept(actor, part.id)

    vendor_orders.cancel(actor, part.id, "The workshop burnt down")
    db.session.commit()

    # The waiting request was approved with the cancellation: nobody can decline it now.
    with pytest.raises(refunds.RefundError) as refused:
        refunds.decline(requested.id, None, "No")
    db.session.rollback()
    run_queued_jobs()
    db.session.expire_all()

    first, rest = db.session.scalars(sa.select(Refund).order_by(Refund.id)).all()
    assert refused.value.message == "This refund was already decided: Approved."
    assert (first.id, first.status, rest.status) == (
        requested.id, RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    assert first.amount_minor + rest.amount_minor == part.total_minor
    assert (balance(PENDING, market.nordic), balance(CASH)) == (0, 0)
    assert db.session.scalar(sa.select(sa.func.count(SandboxRefund.id))) == 2
    assert _broken() == {}


def test_a_buyer_cancelling_a_single_shop_order_is_refunded_once(app, client, market):
    from buyers import orders as buyer_orders

    platform_rule()
    order = paid_order(client, market.buyer, (market.lamp, 2))
    part = part_of(order, market.atelier)

    buyer_orders.cancel_sub_order(market.buyer.id, order.number, part.id)
    db.session.commit()
    run_queued_jobs()  # the refund, then its charge.refunded event (the whole charge)
    db.session.expire_all()

    refund = db.session.scalars(sa.select(Refund)).one()
    assert (refund.initiated_by, refund.status, refund.amount_minor) == (
        RefundInitiator.BUYER, RefundStatus.SUCCEEDED, order.total_minor)
    assert db.session.scalar(sa.select(sa.func.count(SandboxRefund.id))) == 1
    # Our own refund adds up to the whole charge: the event does not cancel or restock again.
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert db.session.get(SubOrder, part.id).status == SubOrderStatus.CANCELLED
    assert market.lamp.stock_levels[0].on_hand == 3
    assert _broken() == {}


def test_an_unpaid_part_called_off_refunds_nothing(app, client, market):
    from buyers import orders as buyer_orders
    from tests.payouts.ledger_support import checkout

    order = checkout(client, market.buyer, (market.lamp, 1))
    part = part_of(order, market.atelier)
    db.session.execute(sa.update(SubOrder).where(SubOrder.id == part.id)
                       .values(status=SubOrderStatus.PAID))

    buyer_orders.cancel_sub_order(market.buyer.id, order.number, part.id)
    db.session.commit()

    assert db.session.scalars(sa.select(Refund)).all() == []


# --- the books --------------------------------------------------------------------------------


def test_check_books_breaks_when_a_refund_was_not_posted(app, market, chairs):
    order, part, line = chairs
    refund = refund_units(part, line, 1, approve=False)
    # Marked succeeded without going through the job: no ledger transaction.
    db.session.execute(sa.update(Refund).where(Refund.id == refund.id)
                       .values(status=RefundStatus.SUCCEEDED))
    db.session.commit()

    broken = _broken()

    assert broken["refunds whose ledger transaction is missing or differs"] == [
        f"refund {refund.id} (succeeded, 12900 EUR): no ledger transaction"]
    assert "cash at the provider differs from the charges less refunds and disputes" in broken


def test_a_payout_is_never_made_from_a_balance_a_refund_took(app, market, chairs):
    order, part, line = chairs
    make_payable(market.nordic)
    paid_days_ago(order, 8)
    settle_due()
    refund_units(part, line, 3)

    assert payouts.create_payout(market.nordic.id, "EUR") is None
    assert db.session.scalars(sa.select(Payout).where(
        Payout.status == PayoutStatus.PENDING)).all() == []
    assert balance(AVAILABLE, market.nordic) == 0


# --- races (PostgreSQL: SQLite lets one writer through at a time) ------------------------------


def _needs_postgres(app) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the PostgreSQL run covers row-level races")


def _in_threads(app, count: int, work) -> list[object]:
    """Run ``work(index)`` in ``count`` threads that start together, each with its own
    session; returns what each returned (or raised)."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        with app.app_context(), app.test_request_context():
            barrier.wait()
            try:
                results[index] = work(index)
                db.session.commit()
            except Exception as error:  # collected and asserted by the test
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.mark.postgres_only
def test_twenty_concurrent_refunds_of_one_line_never_exceed_what_was_bought(app, market,
                                                                            chairs):
    _needs_postgres(app)
    order, part, line = chairs
    part_id, line_id = part.id, line.id
    db.session.remove()

    results = _in_threads(app, 20, lambda i: refunds.create_refund(
        part_id, {line_id: 1}, initiated_by=RefundInitiator.BUYER, user_id=None,
        reason=f"Request {i}", approve=False).id)

    made = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, refunds.RefundError)]
    assert (len(made), len(refused)) == (3, 17)
    assert {r.message for r in refused} == {"Only 0 of “Oak Chair” can still be refunded."}
    assert db.session.scalar(sa.select(sa.func.sum(RefundLine.quantity))) == 3


@pytest.mark.postgres_only
def test_the_refund_job_run_concurrently_refunds_and_posts_once(app, market, chairs):
    _needs_postgres(app)
    order, part, line = chairs
    refund = refunds.create_refund(part.id, {line.id: 2}, initiated_by=RefundInitiator.VENDOR,
                                   user_id=None, reason="", approve=True)
    refund_id = refund.id
    db.session.commit()
    db.session.remove()

    results = _in_threads(app, 10, lambda i: refunds.process_refund(refund_id))

    assert sorted(results) == ["skipped"] * 9 + ["succeeded"]
    assert db.session.scalar(sa.select(sa.func.count(SandboxRefund.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id)).where(
        LedgerTransaction.refund_id == refund_id)) == 1
    assert _broken() == {}


@pytest.mark.postgres_only
def test_refunds_racing_the_settlement_never_leave_pending_below_zero(app, client, market):
    _needs_postgres(app)
    platform_rule()
    orders = [paid_order(client, market.buyer, (market.chair, 1)) for _ in range(4)]
    for order in orders:
        paid_days_ago(order, 8)
    refund_ids = []
    for order in orders:
        part = part_of(order, market.nordic)
        refund_ids.append(refunds.create_refund(
            part.id, {line_of(part).id: 1}, initiated_by=RefundInitiator.VENDOR, user_id=None,
            reason="", approve=True).id)
    vendor_id = market.nordic.id
    db.session.commit()
    db.session.remove()

    def work(index: int):
        if index == 0:
            return settle_due().settled
        return refunds.process_refund(refund_ids[index - 1])

    results = _in_threads(app, 5, work)

    assert results[1:] == ["succeeded"] * 4
    # Each sub-order was either settled before its refund (which then took from available)
    # or refunded before settlement (which then had nothing left to release).
    assert ledger.balance_of(PENDING, "EUR", vendor_id=vendor_id).amount_minor == 0
    # What stays is the shipping nobody refunded: 4 x (€4.90 - €0.78 VAT).
    assert ledger.balance_of(AVAILABLE, "EUR", vendor_id=vendor_id).amount_minor == 4 * 412
    assert _broken() == {}


@pytest.mark.postgres_only
def test_two_clawbacks_of_one_unsettled_sub_order_never_take_its_pending_share_twice(
        app, market, chairs):
    """A refund and a lost dispute of one sub-order posting at the same moment: the second
    waits for the first and takes what the first left in pending, the rest from available."""
    _needs_postgres(app)
    order, part, line = chairs
    order_id, part_id, vendor_id = order.id, part.id, market.nordic.id
    pending_id = ledger.account(PENDING, "EUR", vendor_id=vendor_id).id
    available_id = ledger.account(AVAILABLE, "EUR", vendor_id=vendor_id).id
    share = clawback.pending_share(part_id, pending_id)
    db.session.commit()
    db.session.remove()
    first_posted = threading.Event()

    def claw(index: int) -> list[tuple[int, int]]:
        if index == 1:
            first_posted.wait(30)
        legs = clawback.take_back(vendor_id=vendor_id, currency="EUR", amount_minor=share,
                                  sub_order_id=part_id)
        cash = ledger.account(CASH, "EUR")
        ledger.post(TransactionKind.ADJUSTMENT, f"clawback-race:{index}",
                    [(account_id, cash.id, amount, "EUR") for account_id, amount in legs],
                    order_id=order_id, sub_order_id=part_id, vendor_id=vendor_id)
        if index == 0:
            first_posted.set()
            time.sleep(0.5)  # still uncommitted while the second one looks
        return legs

    results = _in_threads(app, 2, claw)

    assert results == [[(pending_id, share)], [(available_id, share)]]
    assert clawback.pending_share(part_id, pending_id) == 0
    assert ledger.balance_of(AVAILABLE, "EUR", vendor_id=vendor_id).amount_minor == -share


@pytest.mark.postgres_only
def test_a_refund_posting_and_a_payment_event_of_its_order_do_not_deadlock(app, market, chairs,
                                                                           monkeypatch):
    """The refund job holds its sub-order's row while it posts (the ledger transaction names
    the order: a foreign-key check on the order's row); the provider's charge.refunded event
    locks the order, then its parts. Row locks that leave key checks alone keep the two from
    waiting on each other."""
    _needs_postgres(app)
    from buyers import payment_events

    order, part, line = chairs
    refund = refunds.create_refund(part.id, {line.id: 1}, initiated_by=RefundInitiator.VENDOR,
                                   user_id=None, reason="Scratched", approve=False)
    refund.status = RefundStatus.SUCCEEDED  # the provider refunded; the posting is in flight
    refund_id, intent_id, total = refund.id, order.payment_intent_id, order.total_minor
    db.session.commit()
    db.session.remove()
    taken = threading.Event()
    real_take_back = clawback.take_back

    def slow_take_back(**kwargs):
        legs = real_take_back(**kwargs)  # the sub-order's row is locked from here on
        taken.set()
        time.sleep(0.5)  # the event locks the order meanwhile
        return legs

    monkeypatch.setattr(clawback, "take_back", slow_take_back)

    def work(index: int):
        if index == 0:
            refunds.post_refund(db.session.get(Refund, refund_id))
            return "posted"
        taken.wait(30)
        payment_events.on_charge_refunded({"payment_intent": intent_id, "amount": total,
                                           "amount_refunded": 12_900, "refunded": False})
        return "handled"

    results = _in_threads(app, 2, work)

    assert results == ["posted", "handled"]
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id)).where(
        LedgerTransaction.refund_id == refund_id)) == 1
    assert _broken() == {}


# --- Stripe -------------------------------------------------------------------------------------


def test_a_refund_through_stripe_carries_its_idempotency_key(app, client, market):
    from tests.fakes.stripe_server import stripe_configured
    from tests.payouts.ledger_support import checkout, pay

    platform_rule()
    with stripe_configured(app) as fake_stripe:
        order = checkout(client, market.buyer, (market.lamp, 1))
        fake_stripe.pay(order.payment_intent_id)
        pay(order)  # the success event, as the webhook delivers it
        part = part_of(order, market.atelier)

        refund = refund_units(part, line_of(part), 1)

        [call] = fake_stripe.posts("/v1/refunds")
        [stripe_refund] = fake_stripe.refunds.values()
    assert call.headers.get("Idempotency-Key") == f"refund-{refund.id}"
    assert (call.params["payment_intent"], call.params["amount"]) == (
        order.payment_intent_id, str(refund.amount_minor))
    assert call.params["metadata"] == {"refund_id": str(refund.id), "order_id": str(order.id),
                                       "sub_order_id": str(part.id)}
    assert (refund.status, refund.provider_refund_id) == (RefundStatus.SUCCEEDED,
                                                          stripe_refund["id"])
