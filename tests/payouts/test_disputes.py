"""Chargebacks: a dispute opened takes the amount from the platform's cash, won gives it back,
lost reverses the order's vendor shares, commission and tax; each posted once."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import Role
from marketplace.payments import (
    ConnectedAccountDetails,
    PaymentProviderError,
    events,
    provider,
    sandbox_disputes,
)
from marketplace.payments.models import PaymentEvent, SandboxPaymentIntent
from marketplace.payments.sandbox import complete_onboarding
from marketplace.payments.sandbox_checkout import CARD_SUCCEEDS, pay_with_card
from payouts import commission, disputes, ledger, payouts, refunds
from payouts.books import check_books
from payouts.models import (
    AccountKind,
    Dispute,
    DisputeStatus,
    LedgerTransaction,
    Payout,
    PayoutStatus,
    RefundInitiator,
    RefundStatus,
    ReversalStatus,
    TransactionKind,
    TransferReversal,
)
from payouts.settlement import settle_due
from tests.checkout_factories import flat_shipping
from tests.factories import make_product, make_user, make_vendor
from tests.fakes.stripe_server import STRIPE_TEST_KEY
from tests.fakes.stripe_webhooks import WEBHOOK_SECRET, deliver, event
from tests.payouts.ledger_support import checkout, postings_of
from tests.vendors.factories import make_member
from tests.vendors.pages import cell, flashes, log_in, rows
from vendors.models import MemberRole, Vendor
from vendors.order_models import Order, OrderLine, SubOrder

# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _platform_commission(app):
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR")
    db.session.commit()


def _run() -> None:
    db.session.commit()
    run_queued_jobs()
    db.session.expire_all()


def _paid(client, market, *lines) -> Order:
    """An order placed through the checkout and paid on the sandbox with a test card."""
    order = checkout(client, market.buyer, *lines)
    pay_with_card(db.session.get(SandboxPaymentIntent, order.payment_intent_id), CARD_SUCCEEDS)
    _run()
    return db.session.get(Order, order.id)


def _open(order: Order, amount_minor: int | None = None) -> Dispute:
    opened = sandbox_disputes.open_dispute(order.payment_intent_id, amount_minor)
    _run()
    return _dispute(opened["id"])


def _close(dispute: Dispute, *, won: bool) -> Dispute:
    sandbox_disputes.close_dispute(dispute.provider_dispute_id, won)
    _run()
    return _dispute(dispute.provider_dispute_id)


def _dispute(provider_id: str) -> Dispute:
    return db.session.scalars(sa.select(Dispute)
                              .where(Dispute.provider_dispute_id == provider_id)).one()


def _parts(order: Order) -> list[SubOrder]:
    return list(db.session.scalars(sa.select(SubOrder).where(SubOrder.order_id == order.id)
                                   .order_by(SubOrder.id)))


def _platform(kind: AccountKind) -> int:
    return ledger.balance_of(kind, "EUR").amount_minor


def _vendor(kind: AccountKind, vendor: Vendor) -> int:
    return ledger.balance_of(kind, "EUR", vendor_id=vendor.id).amount_minor


def _broken() -> dict[str, list[str]]:
    return {check.name: check.examples for check in check_books() if not check.ok}


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _lost_parts(dispute: Dispute) -> list[list[tuple[str, str, int, str]]]:
    keys = db.session.scalars(
        sa.select(LedgerTransaction.idempotency_key)
        .where(LedgerTransaction.dispute_id == dispute.id,
               LedgerTransaction.kind == TransactionKind.DISPUTE_LOST)
        .order_by(LedgerTransaction.id)).all()
    return [postings_of(key) for key in keys]


def _dispute_object(dispute_id: str, order: Order, amount: int, status: str) -> dict:
    return {"id": dispute_id, "object": "dispute", "amount": amount, "currency": "eur",
            "charge": "ch_test", "payment_intent": order.payment_intent_id,
            "reason": "fraudulent", "status": status}


def _make_payable(vendor: Vendor) -> None:
    details = ConnectedAccountDetails(reference=f"vendor-{vendor.id}",
                                      business_name=vendor.name, country="DE")
    account_id = provider().create_connected_account(details)
    complete_onboarding(account_id)
    vendor.payout_provider = provider().name
    vendor.payout_account_id = account_id
    vendor.payout_details_submitted = True
    vendor.payouts_enabled = True
    db.session.commit()


# --- the ledger ------------------------------------------------------------------------------


def test_an_opened_dispute_moves_the_amount_from_cash_to_disputes(client, market):
    order = _paid(client, market, (market.lamp, 1))  # €45.00 + €5.00 shipping

    dispute = _open(order)

    assert (dispute.order_id, dispute.amount_minor, dispute.currency, dispute.status,
            dispute.reason) == (order.id, 5_000, "EUR", DisputeStatus.OPEN, "fraudulent")
    assert postings_of(f"dispute-opened:{dispute.id}") == [
        ("disputes", "provider_cash", 5_000, "EUR")]
    assert (_platform(AccountKind.PROVIDER_CASH), _platform(AccountKind.DISPUTES)) == (0, 5_000)
    assert _vendor(AccountKind.VENDOR_PENDING, market.atelier) == 3_824  # untouched while open
    assert _broken() == {}


def test_a_won_dispute_gives_the_amount_back(client, market):
    order = _paid(client, market, (market.lamp, 1))
    dispute = _open(order)

    dispute = _close(dispute, won=True)

    assert dispute.status == DisputeStatus.WON and dispute.closed_at is not None
    assert postings_of(f"dispute-won:{dispute.id}") == [
        ("provider_cash", "disputes", 5_000, "EUR")]
    assert (_platform(AccountKind.PROVIDER_CASH), _platform(AccountKind.DISPUTES)) == (5_000, 0)
    assert (_vendor(AccountKind.VENDOR_PENDING, market.atelier),
            _platform(AccountKind.COMMISSION_REVENUE), _platform(AccountKind.TAX_PAYABLE)) == (
        3_824, 378, 798)
    assert _broken() == {}


def test_a_lost_dispute_reverses_each_vendor_share_commission_and_tax(client, market):
    # Nordic €133.90 (tax €21.38, commission €10.84), Atelier €95.00 (€15.17, €7.56).
    order = _paid(client, market, (market.chair, 1), (market.lamp, 2))
    nordic, atelier = _parts(order)
    dispute = _open(order)

    dispute = _close(dispute, won=False)

    assert dispute.status == DisputeStatus.LOST and dispute.amount_minor == 22_890
    assert postings_of(f"dispute-lost:{dispute.id}:sub_order:{nordic.id}") == [
        ("commission_revenue", "disputes", 1_084, "EUR"),
        ("tax_payable", "disputes", 2_138, "EUR"),
        ("vendor_pending", "disputes", 10_168, "EUR"),
    ]
    assert postings_of(f"dispute-lost:{dispute.id}:sub_order:{atelier.id}") == [
        ("commission_revenue", "disputes", 756, "EUR"),
        ("tax_payable", "disputes", 1_517, "EUR"),
        ("vendor_pending", "disputes", 7_227, "EUR"),
    ]
    assert [_platform(kind) for kind in (AccountKind.PROVIDER_CASH, AccountKind.DISPUTES,
                                         AccountKind.COMMISSION_REVENUE,
                                         AccountKind.TAX_PAYABLE)] == [0, 0, 0, 0]
    assert (_vendor(AccountKind.VENDOR_PENDING, market.nordic),
            _vendor(AccountKind.VENDOR_PENDING, market.atelier)) == (0, 0)
    lost = db.session.scalars(sa.select(LedgerTransaction).where(
        LedgerTransaction.kind == TransactionKind.DISPUTE_LOST)
        .order_by(LedgerTransaction.id)).all()
    assert [(t.order_id, t.sub_order_id, t.vendor_id, t.dispute_id) for t in lost] == [
        (order.id, nordic.id, market.nordic.id, dispute.id),
        (order.id, atelier.id, market.atelier.id, dispute.id)]
    assert _broken() == {}


def test_a_partial_dispute_over_three_vendors_splits_to_the_last_cent(client, market):
    loft = make_vendor("Linen Loft")
    towel = make_product(loft, title="Linen Towel", price_minor=1_999, on_hand=10).variants[0]
    flat_shipping(loft.id, price_minor=390)
    db.session.commit()
    order = _paid(client, market, (market.chair, 1), (market.lamp, 1), (towel, 3))
    nordic, atelier, linen = _parts(order)
    assert [p.total_minor for p in (nordic, atelier, linen)] == [13_390, 5_000, 6_387]
    dispute = _open(order, 10_001)

    dispute = _close(dispute, won=False)

    # 10,001 over 13,390 : 5,000 : 6,387 -> 5,405.07 : 2,018.20 : 2,578.04 (no cent left
    # over); then each part over its sub-order's commission : tax : vendor share, e.g.
    # 2,578 over 504 : 1,020 : 4,863 -> 203.43 : 411.71 : 1,962.86 -> 203 : 412 : 1,963.
    parts = _lost_parts(dispute)
    assert parts == [
        [("commission_revenue", "disputes", 438, "EUR"), ("tax_payable", "disputes", 863, "EUR"),
         ("vendor_pending", "disputes", 4_104, "EUR")],
        [("commission_revenue", "disputes", 153, "EUR"), ("tax_payable", "disputes", 322, "EUR"),
         ("vendor_pending", "disputes", 1_543, "EUR")],
        [("commission_revenue", "disputes", 203, "EUR"), ("tax_payable", "disputes", 412, "EUR"),
         ("vendor_pending", "disputes", 1_963, "EUR")],
    ]
    assert [sum(leg[2] for leg in part) for part in parts] == [5_405, 2_018, 2_578]
    assert sum(sum(leg[2] for leg in part) for part in parts) == 10_001
    assert _platform(AccountKind.DISPUTES) == 0
    assert _platform(AccountKind.PROVIDER_CASH) == 13_390 + 5_000 + 6_387 - 10_001
    assert _broken() == {}


def test_a_dispute_lost_after_a_partial_refund_takes_only_what_is_left(client, market):
    order = _paid(client, market, (market.chair, 1), (market.lamp, 2))
    nordic, atelier = _parts(order)
    line = db.session.scalars(sa.select(OrderLine).where(OrderLine.sub_order_id == atelier.id)
                              ).one()
    refund = refunds.create_refund(atelier.id, {line.id: 1}, initiated_by=RefundInitiator.VENDOR,
                                   user_id=None, reason="Scratched", approve=True)
    _run()
    refund = db.session.get(type(refund), refund.id)
    assert refund.status == RefundStatus.SUCCEEDED
    left = 22_890 - refund.amount_minor
    dispute = _open(order)  # the sandbox disputes what is left of the charge

    dispute = _close(dispute, won=False)

    assert dispute.amount_minor == left
    assert [_platform(kind) for kind in (AccountKind.PROVIDER_CASH, AccountKind.DISPUTES,
                                         AccountKind.COMMISSION_REVENUE,
                                         AccountKind.TAX_PAYABLE)] == [0, 0, 0, 0]
    assert (_vendor(AccountKind.VENDOR_PENDING, market.nordic),
            _vendor(AccountKind.VENDOR_PENDING, market.atelier)) == (0, 0)
    assert _broken() == {}


def test_a_dispute_lost_after_settlement_takes_the_share_from_available(client, market):
    order = _paid(client, market, (market.lamp, 1))
    settle_due(utcnow() + dt.timedelta(days=8))
    dispute = _open(order, 2_500)

    dispute = _close(dispute, won=False)

    assert _lost_parts(dispute) == [[("commission_revenue", "disputes", 189, "EUR"),
                                     ("tax_payable", "disputes", 399, "EUR"),
                                     ("vendor_available", "disputes", 1_912, "EUR")]]
    assert (_vendor(AccountKind.VENDOR_PENDING, market.atelier),
            _vendor(AccountKind.VENDOR_AVAILABLE, market.atelier)) == (0, 3_824 - 1_912)
    assert _broken() == {}


def test_a_dispute_lost_after_the_payout_reverses_the_transfer(client, market):
    _make_payable(market.atelier)
    order = _paid(client, market, (market.lamp, 1))
    # Paid 8 days ago and settled now (the payout must come after the settlement).
    db.session.execute(sa.update(Order).where(Order.id == order.id)
                       .values(paid_at=utcnow() - dt.timedelta(days=8)))
    db.session.commit()
    settle_due()
    payout = payouts.create_payout(market.atelier.id, "EUR")
    db.session.commit()
    payouts.send_payout(payout.id)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).status == PayoutStatus.PAID
    assert _vendor(AccountKind.VENDOR_PAID_OUT, market.atelier) == 3_824
    dispute = _open(order)

    dispute = _close(dispute, won=False)

    [reversal] = db.session.scalars(sa.select(TransferReversal)).all()
    assert (reversal.payout_id, reversal.dispute_id, reversal.amount_minor, reversal.status) == (
        payout.id, dispute.id, 3_824, ReversalStatus.SUCCEEDED)
    assert (_vendor(AccountKind.VENDOR_AVAILABLE, market.atelier),
            _vendor(AccountKind.VENDOR_PAID_OUT, market.atelier)) == (0, 0)
    assert _broken() == {}


# --- the events ------------------------------------------------------------------------------


def test_redelivered_and_repeated_events_post_once(app, client, market, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    order = _paid(client, market, (market.chair, 1), (market.lamp, 2))
    created = event("charge.dispute.created",
                    _dispute_object("dp_1", order, 22_890, "needs_response"), event_id="evt_c")
    withdrawn = event("charge.dispute.funds_withdrawn",
                      _dispute_object("dp_1", order, 22_890, "needs_response"), event_id="evt_w")
    lost = [event("charge.dispute.closed", _dispute_object("dp_1", order, 22_890, "lost"),
                  event_id=f"evt_l{n}") for n in range(3)]

    answers = [deliver(client, created) for _ in range(3)] + [deliver(client, withdrawn)]
    answers += [deliver(client, evt) for evt in lost for _ in range(3)]
    run_queued_jobs()
    late = deliver(client, event("charge.dispute.created",
                                 _dispute_object("dp_1", order, 22_890, "needs_response"),
                                 event_id="evt_late"))
    run_queued_jobs()
    db.session.expire_all()

    assert {a.status_code for a in answers + [late]} == {200}
    assert _count(PaymentEvent, PaymentEvent.type.like("charge.dispute.%")) == 6
    assert _count(PaymentEvent, PaymentEvent.processed_at.is_(None)) == 0
    dispute = _dispute("dp_1")
    assert dispute.status == DisputeStatus.LOST  # the late creation does not reopen it
    assert _count(LedgerTransaction, LedgerTransaction.dispute_id == dispute.id) == 3
    assert _platform(AccountKind.PROVIDER_CASH) == 0 and _platform(AccountKind.DISPUTES) == 0
    assert _broken() == {}


def test_a_close_arriving_before_the_creation_records_both(client, market):
    order = _paid(client, market, (market.lamp, 1))

    events.record_event(event("charge.dispute.closed",
                              _dispute_object("dp_2", order, 5_000, "won"), event_id="evt_w"))
    _run()
    events.record_event(event("charge.dispute.created",
                              _dispute_object("dp_2", order, 5_000, "needs_response"),
                              event_id="evt_c"))
    _run()

    dispute = _dispute("dp_2")
    assert dispute.status == DisputeStatus.WON
    assert postings_of(f"dispute-opened:{dispute.id}") == [
        ("disputes", "provider_cash", 5_000, "EUR")]
    assert postings_of(f"dispute-won:{dispute.id}") == [
        ("provider_cash", "disputes", 5_000, "EUR")]
    assert _broken() == {}


def test_disputes_of_unknown_orders_inquiries_and_bad_objects_are_ignored(client, market):
    order = _paid(client, market, (market.lamp, 1))
    stranger = {**_dispute_object("dp_x", order, 5_000, "needs_response"),
                "payment_intent": "pi_someone_else"}
    inquiry = _dispute_object("dp_i", order, 5_000, "warning_needs_response")
    for n, (kind, obj) in enumerate([
        ("charge.dispute.created", stranger), ("charge.dispute.closed", stranger),
        ("charge.dispute.created", inquiry),
        ("charge.dispute.closed", {**inquiry, "status": "warning_closed"}),
        ("charge.dispute.created", {**inquiry, "id": "dp_y", "status": "needs_response",
                                    "currency": "usd"}),
        ("charge.dispute.created", {"id": "dp_z", "amount": "lots"}),
    ]):
        events.record_event(event(kind, obj, event_id=f"evt_{n}"))

    _run()

    assert _count(PaymentEvent, PaymentEvent.processed_at.is_(None)) == 0  # none fails
    assert _count(Dispute) == 0
    assert _platform(AccountKind.PROVIDER_CASH) == 5_000
    assert _broken() == {}


def test_a_closed_dispute_is_final(client, market):
    order = _paid(client, market, (market.lamp, 1))
    dispute = _close(_open(order), won=True)

    events.record_event(event("charge.dispute.closed",
                              _dispute_object(dispute.provider_dispute_id, order, 5_000, "lost"),
                              event_id="evt_flip"))
    _run()

    assert _dispute(dispute.provider_dispute_id).status == DisputeStatus.WON
    assert _lost_parts(dispute) == []
    with pytest.raises(disputes.DisputeClosed):
        disputes.close_dispute(dispute.id, won=False)
    db.session.rollback()
    assert _broken() == {}


@pytest.mark.postgres_only
def test_concurrent_events_of_one_dispute_post_once(app, client, market, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    order = _paid(client, market, (market.chair, 1), (market.lamp, 2))
    deliveries = [event("charge.dispute.created",
                        _dispute_object("dp_c", order, 10_001, "needs_response"),
                        event_id=f"evt_c{n}") for n in range(4)]
    deliveries += [event("charge.dispute.closed", _dispute_object("dp_c", order, 10_001, "lost"),
                         event_id=f"evt_l{n}") for n in range(4)]
    start = threading.Barrier(len(deliveries))
    errors: list[BaseException] = []

    def deliver_and_process(evt) -> None:
        with app.app_context():
            try:
                start.wait()
                assert deliver(app.test_client(), evt).status_code == 200
                row_id = db.session.scalar(sa.select(PaymentEvent.id)
                                           .where(PaymentEvent.event_id == evt["id"]))
                events.process_event(row_id)
            except BaseException as error:  # noqa: BLE001  (reported below)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=deliver_and_process, args=(evt,)) for evt in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_queued_jobs()  # the jobs the deliveries queued find their events processed
    db.session.expire_all()

    assert errors == []
    dispute = _dispute("dp_c")
    assert dispute.status == DisputeStatus.LOST
    assert _count(Dispute) == 1
    assert _count(LedgerTransaction, LedgerTransaction.dispute_id == dispute.id) == 3
    assert sum(sum(leg[2] for leg in part) for part in _lost_parts(dispute)) == 10_001
    assert _platform(AccountKind.DISPUTES) == 0
    assert _broken() == {}


@pytest.mark.postgres_only
def test_a_dispute_lost_while_a_refund_posts_takes_only_what_the_refund_left(app, client,
                                                                              market):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    order = _paid(client, market, (market.chair, 1), (market.lamp, 2))
    nordic, atelier = _parts(order)
    refund = refunds.refund_sub_order(atelier.id, initiated_by=RefundInitiator.VENDOR,
                                      user_id=None, reason="Sold out")
    refund.status = RefundStatus.SUCCEEDED  # the provider refunded; the posting is in flight
    refund_id, left = refund.id, order.total_minor - refund.amount_minor
    db.session.commit()
    dispute_id = _open(order, left).id  # the buyer disputes the rest: the chair's part
    vendors = (market.nordic.id, market.atelier.id)
    db.session.remove()
    refund_posted = threading.Event()
    errors: list[BaseException] = []

    def post_the_refund() -> None:
        with app.app_context():
            try:
                refunds.post_refund(db.session.get(type(refund), refund_id))
                refund_posted.set()
                time.sleep(0.5)  # not committed yet while the dispute closes
                db.session.commit()
            except BaseException as error:  # noqa: BLE001  (reported below)
                errors.append(error)
            finally:
                refund_posted.set()
                db.session.remove()

    def lose_the_dispute() -> None:
        with app.app_context():
            try:
                refund_posted.wait(30)
                disputes.close_dispute(dispute_id, won=False)
                db.session.commit()
            except BaseException as error:  # noqa: BLE001  (reported below)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=post_the_refund), threading.Thread(target=lose_the_dispute)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    # The lamp's part went back with the refund; the dispute took the chair's part, all of it.
    assert [ledger.balance_of(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor_id)
            .amount_minor for vendor_id in vendors] == [0, 0]
    assert [_platform(kind) for kind in (AccountKind.PROVIDER_CASH, AccountKind.DISPUTES,
                                         AccountKind.COMMISSION_REVENUE,
                                         AccountKind.TAX_PAYABLE)] == [0, 0, 0, 0]
    assert _broken() == {}


# --- the books -------------------------------------------------------------------------------


def test_check_books_names_a_dispute_missing_its_postings(app, client, market):
    order = _paid(client, market, (market.lamp, 1))
    dispute = _open(order)
    # A dispute recorded as lost without its lost postings (e.g. a handler that crashed half
    # way before this code existed), and one with no posting at all.
    db.session.execute(sa.update(Dispute).where(Dispute.id == dispute.id)
                       .values(status=DisputeStatus.LOST, closed_at=utcnow()))
    bare = Dispute(provider_dispute_id="dp_bare", order_id=order.id, currency="EUR",
                   amount_minor=1_000, status=DisputeStatus.OPEN)
    db.session.add(bare)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["marketplace", "check-books"])

    assert result.exit_code == 1
    assert (f"BROKEN  disputes without their opened or closing transactions: 2\n"
            f"        dispute {dispute.id} ({dispute.provider_dispute_id}, lost, 5000 EUR): "
            f"opening posted, won not posted, lost 0 posted\n"
            f"        dispute {bare.id} (dp_bare, open, 1000 EUR): opening missing, "
            f"won not posted, lost 0 posted\n") in result.output
    assert ("BROKEN  cash at the provider differs from the charges less refunds and disputes: 1\n"
            "        EUR: cash 0, but captured 5000 - refunded 0 - disputed 6000 + disputes won 0"
            " = -1000\n") in result.output


# --- the sandbox ---------------------------------------------------------------------------


def test_the_sandbox_refuses_what_stripe_refuses(client, market):
    order = _paid(client, market, (market.lamp, 1))
    unpaid = checkout(client, market.buyer, (market.chair, 1))

    def refused(call) -> str | None:
        try:
            call()
        except PaymentProviderError as error:
            db.session.rollback()
            return error.code or error.message
        return None

    too_much = refused(lambda: sandbox_disputes.open_dispute(order.payment_intent_id, 5_001))
    not_paid = refused(lambda: sandbox_disputes.open_dispute(unpaid.payment_intent_id))
    bad_reason = refused(lambda: sandbox_disputes.open_dispute(order.payment_intent_id,
                                                               reason="bored"))
    dispute = _open(order)
    twice = refused(lambda: sandbox_disputes.open_dispute(order.payment_intent_id))
    refund_while_open = refused(lambda: provider().create_refund(
        payment_intent_id=order.payment_intent_id, amount_minor=100,
        idempotency_key="r-1", metadata={}))
    unknown = refused(lambda: sandbox_disputes.close_dispute("dp_nope", True))
    _close(dispute, won=False)
    closed_twice = refused(lambda: sandbox_disputes.close_dispute(
        dispute.provider_dispute_id, True))

    assert too_much == "amount_too_large"
    assert not_paid == "charge_not_disputable"
    assert bad_reason == "The sandbox refused the request: bored is not a dispute reason " \
                         "Stripe knows."
    assert (twice, refund_while_open, unknown, closed_twice) == (
        "charge_disputed", "charge_disputed", "resource_missing", "dispute_already_closed")


def test_the_sandbox_dispute_command_opens_and_closes_a_dispute(app, client, market,
                                                                monkeypatch):
    order = _paid(client, market, (market.lamp, 1))
    cli = app.test_cli_runner()

    opened = cli.invoke(args=["marketplace", "sandbox-dispute", "open", order.number,
                              "--amount", "1200", "--reason", "product_not_received"])
    _run()
    dispute = db.session.scalars(sa.select(Dispute)).one()
    unknown = cli.invoke(args=["marketplace", "sandbox-dispute", "open", "NOPE"])
    closed = cli.invoke(args=["marketplace", "sandbox-dispute", "close", str(dispute.id),
                              "--lost"])
    _run()
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", STRIPE_TEST_KEY)
    with_stripe = cli.invoke(args=["marketplace", "sandbox-dispute", "close", str(dispute.id),
                                   "--won"])

    assert opened.exit_code == 0, opened.output
    assert (dispute.amount_minor, dispute.reason) == (1_200, "product_not_received")
    assert (unknown.exit_code, unknown.output) == (1, "Error: No order NOPE with a payment.\n")
    assert closed.exit_code == 0, closed.output
    assert _dispute(dispute.provider_dispute_id).status == DisputeStatus.LOST
    assert with_stripe.exit_code == 1 and "only be played in the sandbox" in with_stripe.output
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    assert _broken() == {}


def test_a_charge_whose_dispute_was_won_can_be_refunded_again(client, market):
    order = _paid(client, market, (market.lamp, 1))
    _close(_open(order), won=True)

    refund_id = provider().create_refund(payment_intent_id=order.payment_intent_id,
                                         amount_minor=100, idempotency_key="r-2", metadata={})

    assert refund_id.startswith("re_sbx_")
    db.session.rollback()


# --- pages -----------------------------------------------------------------------------------


def _admin(client):
    admin = make_user("admin@example.com", role=Role.ADMIN)
    db.session.commit()
    log_in(client, admin)
    return admin


def test_admins_list_disputes_by_status_with_pages(client, market):
    first = _paid(client, market, (market.lamp, 1))
    second = _paid(client, market, (market.chair, 1))
    lost = _close(_open(first), won=False)
    still_open = _open(second, 3_000)
    _admin(client)

    everything = client.get("/admin/disputes").get_data(as_text=True)
    only_lost = client.get("/admin/disputes?status=lost").get_data(as_text=True)
    only_won = client.get("/admin/disputes?status=won").get_data(as_text=True)
    first_page = client.get("/admin/disputes?per_page=1").get_data(as_text=True)
    bad = client.get("/admin/disputes?status=maybe")

    assert rows(everything, "dispute") == [still_open.id, lost.id]
    assert [cell(everything, "dispute", lost.id, c) for c in ("order", "status", "amount")][::2] \
        == [first.number, "€50.00"]
    assert cell(everything, "dispute", still_open.id, "amount") == "€30.00"
    assert cell(everything, "dispute", still_open.id, "status") == "Open"
    assert cell(everything, "dispute", lost.id, "status").startswith("Lost — ")
    assert 'data-status="lost">Lost <span class="badge">1</span>' in everything
    assert rows(only_lost, "dispute") == [lost.id]
    assert rows(only_won, "dispute") == [] and "No disputes here." in only_won
    assert rows(first_page, "dispute") == [still_open.id] and "page=2" in first_page
    assert bad.status_code == 422
    assert '<a href="/admin/disputes">Disputes</a>' in client.get("/admin/").get_data(
        as_text=True)


def test_only_admins_see_disputes_and_close_them(app, client, market, post_form):
    dispute = _open(_paid(client, market, (market.lamp, 1)))  # the client is the buyer's
    anonymous = app.test_client().get("/admin/disputes")

    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert client.get("/admin/disputes").status_code == 403
    assert post_form(f"/admin/disputes/{dispute.id}/sandbox-close",
                     {"outcome": "won"}).status_code == 403
    assert _dispute(dispute.provider_dispute_id).status == DisputeStatus.OPEN


def test_the_sandbox_buttons_close_an_open_dispute(client, market, post_form):
    order = _paid(client, market, (market.lamp, 1))
    dispute = _open(order)
    _admin(client)
    page = client.get("/admin/disputes").get_data(as_text=True)
    action = f'action="/admin/disputes/{dispute.id}/sandbox-close"'

    answer = post_form(f"/admin/disputes/{dispute.id}/sandbox-close", {"outcome": "lost"})
    _run()
    after = client.get("/admin/disputes").get_data(as_text=True)
    post_form(f"/admin/disputes/{dispute.id}/sandbox-close", {"outcome": "won"})
    again = client.get("/admin/disputes")
    nonsense = post_form(f"/admin/disputes/{dispute.id}/sandbox-close", {"outcome": "maybe"})

    assert action in page
    assert answer.status_code == 303
    assert _dispute(dispute.provider_dispute_id).status == DisputeStatus.LOST
    assert cell(after, "dispute", dispute.id, "status").startswith("Lost")
    assert action not in after  # no buttons on a closed dispute
    assert flashes(again.get_data(as_text=True)) == [f"Dispute #{dispute.id} is closed already."]
    assert nonsense.status_code == 422
    assert _dispute(dispute.provider_dispute_id).status == DisputeStatus.LOST
    assert _broken() == {}


def test_the_sandbox_buttons_are_gone_with_stripe(app, client, market, post_form, monkeypatch):
    order = _paid(client, market, (market.lamp, 1))
    dispute = _open(order)
    _admin(client)
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", STRIPE_TEST_KEY)

    page = client.get("/admin/disputes").get_data(as_text=True)
    answer = post_form(f"/admin/disputes/{dispute.id}/sandbox-close", {"outcome": "won"})

    assert rows(page, "dispute") == [dispute.id]
    assert "sandbox-close" not in page
    assert answer.status_code == 404
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    assert _dispute(dispute.provider_dispute_id).status == DisputeStatus.OPEN


def test_the_vendor_statement_shows_the_lost_dispute_on_its_own_sub_order(client, market):
    order = _paid(client, market, (market.chair, 1), (market.lamp, 2))
    dispute = _close(_open(order), won=False)
    owner = make_member(market.atelier, MemberRole.OWNER, email="owner@atelier.example")
    other = make_member(market.nordic, MemberRole.OWNER, email="owner@nordic.example")
    db.session.commit()
    atelier_lost, nordic_lost = (db.session.scalar(
        sa.select(LedgerTransaction.id).where(LedgerTransaction.dispute_id == dispute.id,
                                              LedgerTransaction.vendor_id == vendor.id))
        for vendor in (market.atelier, market.nordic))

    log_in(client, owner)
    page = client.get("/vendor/balance/transactions").get_data(as_text=True)
    log_in(client, other)
    others = client.get("/vendor/balance/transactions").get_data(as_text=True)

    assert cell(page, "transaction", atelier_lost, "kind") == "Dispute lost"
    assert cell(page, "transaction", atelier_lost, "pending") == "-€72.27"
    assert f'data-transaction="{nordic_lost}"' not in page
    assert cell(others, "transaction", nordic_lost, "pending") == "-€101.68"
    assert f'data-transaction="{atelier_lost}"' not in others
