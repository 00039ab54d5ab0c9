"""The books under random sequences of money events (hypothesis stateful testing).

A machine places orders through the real checkout, pays them on the sandbox gateway (or
has the card declined), refunds parts of them, settles, pays vendors out (and has transfers
refused), and opens, wins and loses disputes, in any order hypothesis picks. After every step:

- ``check_books`` finds no break (every posting in its accounts' currency, so every journal
  entry sums to zero per currency; captures, refunds and disputes complete; cash agrees);
- every captured charge splits exactly: vendor share + commission + tax = the sub-order's
  total (shipping is inside the vendor share);
- every vendor's balance is what the business rows say it must be, computed here from the
  orders, refunds, payouts and reversals rather than from the ledger's own balances:
  pending + available = sales - commission - refunds - lost disputes - payouts + reversals,
  and paid out = payouts - reversals.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from buyers import cart as carts
from buyers.checkout import ensure_payment_intent, place_order_once
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.payments import sandbox_disputes
from marketplace.payments.models import SandboxAccount, SandboxPaymentIntent
from marketplace.payments.sandbox_checkout import CARD_DECLINED, CARD_SUCCEEDS, pay_with_card
from payouts import commission, ledger, refunds
from payouts.books import check_books
from payouts.models import (
    AccountKind,
    Dispute,
    DisputeStatus,
    LedgerPosting,
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
from payouts.payouts import create_due_payouts
from payouts.settlement import settle_due
from tests.checkout_factories import flat_shipping
from tests.conftest import _clean
from tests.factories import make_category, make_product
from tests.payouts.payout_factories import make_payable_vendor
from tests.vendors.factories import make_person
from vendors.models import PayoutSchedule
from vendors.order_models import Order, OrderLine, OrderStatus, SubOrder

ADDRESS = {"name": "Ada Buyer", "line1": "Hauptstraße 1", "line2": "", "city": "Berlin",
           "region": "", "postal_code": "10115", "country": "DE", "phone": ""}
# More with HYPOTHESIS_EXAMPLES=500 for a long hunt; CI runs the default.
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
REFUNDABLE = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PROCESSING,
              RefundStatus.SUCCEEDED)


def _sum(stmt) -> int:
    return int(db.session.scalar(stmt) or 0)


class Books(RuleBasedStateMachine):
    def __init__(self, app) -> None:
        super().__init__()
        self.app = app
        _clean(app)
        self.keys = itertools.count(1)
        self.clock = utcnow()

    @initialize()
    def market(self) -> None:
        garden = make_category("Garden")
        commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR")
        commission.create_rule(name="Garden", rate_bp=1_250, minimum_minor=99, currency="EUR",
                               category_id=garden.id)
        self.vendors = [make_payable_vendor(name) for name in ("Nordic", "Atelier", "Fjord")]
        commission.create_rule(name="Atelier deal", rate_bp=500, fixed_minor=30, currency="EUR",
                               vendor_id=self.vendors[1].id)
        self.variants = []
        for vendor, (price, category) in zip(
                self.vendors, ((12_999, None), (4_501, garden), (333, None)), strict=True):
            vendor.payout_schedule = PayoutSchedule.DAILY
            flat_shipping(vendor.id, price_minor=495)
            self.variants.append(make_product(vendor, category, price_minor=price,
                                              on_hand=10_000).variants[0])
        self.buyer = make_person("stateful@example.com", name="Ada Buyer")
        db.session.commit()

    # --- rules ----------------------------------------------------------------------------

    @rule(shops=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
          quantity=st.integers(1, 3),
          card=st.sampled_from(["succeeds", "succeeds", "succeeds", "declined", "later"]))
    def checkout(self, shops: list[int], quantity: int, card: str) -> None:
        """An order from one to three shops, paid at once, declined, or left for later."""
        cart = carts.get_or_create_cart(user_id=self.buyer.id)
        choices = {}
        for index in shops:
            variant = self.variants[index]
            carts.add_item(cart, variant.id, quantity + index)
            choices[variant.vendor_id] = _method_of(variant.vendor_id)
        db.session.commit()
        order = place_order_once(self.buyer, idempotency_key=f"hyp-{next(self.keys)}",
                                 currency="EUR", address=ADDRESS, choices=choices).order
        intent = ensure_payment_intent(order.id)
        if card != "later":
            self._pay(intent.id, declined=card == "declined")

    @precondition(lambda self: _exists(sa.select(Order.id).where(
        Order.status == OrderStatus.AWAITING_PAYMENT)))
    @rule()
    def pay_the_oldest_unpaid(self) -> None:
        intent_id = db.session.scalar(
            sa.select(Order.payment_intent_id)
            .where(Order.status == OrderStatus.AWAITING_PAYMENT).order_by(Order.id).limit(1))
        if intent_id is not None:
            self._pay(intent_id, declined=False)

    def _pay(self, intent_id: str, *, declined: bool) -> None:
        pay_with_card(db.session.get(SandboxPaymentIntent, intent_id),
                      CARD_DECLINED if declined else CARD_SUCCEEDS)
        db.session.commit()
        run_queued_jobs(self.app)
        db.session.expire_all()
        event("payment declined" if declined else "payment captured")

    @precondition(lambda self: any(line[1] > 0 for line in _refundable_lines()))
    @rule(data=st.data())
    def partial_refund(self, data) -> None:
        """Some units of one line of any captured order, approved at once."""
        lines = [line for line in _refundable_lines() if line[1] > 0]
        if not lines:
            return
        line_id, left, sub_order_id = data.draw(st.sampled_from(lines), label="line")
        quantity = data.draw(st.integers(1, left), label="quantity")
        refund = refunds.create_refund(sub_order_id, {line_id: quantity},
                                       initiated_by=RefundInitiator.VENDOR, user_id=None,
                                       reason="stateful test", approve=True)
        db.session.commit()
        run_queued_jobs(self.app)
        db.session.expire_all()
        event(f"refund {db.session.get(Refund, refund.id).status.value}")

    @rule()
    def settle(self) -> None:
        settle_due()  # the test runs with no hold period: everything paid is due
        db.session.expire_all()

    @rule(refuse=st.sampled_from([None, 0, 1, 2]))
    def payout(self, refuse: int | None) -> None:
        """The payout run for the next day; with ``refuse`` that vendor's payout account
        refuses the transfer (the payout fails and its money returns to available)."""
        account = None
        if refuse is not None:
            account = db.session.get(SandboxAccount, self.vendors[refuse].payout_account_id)
            account.payouts_enabled = False
            db.session.commit()
        self.clock += dt.timedelta(days=1)
        run = create_due_payouts(self.clock)
        run_queued_jobs(self.app)
        event(f"payouts created: {min(len(run.created), 2)}{' (one refused)' if refuse else ''}")
        if account is not None:
            account = db.session.get(SandboxAccount, account.id, populate_existing=True)
            account.payouts_enabled = True
            db.session.commit()
        db.session.expire_all()

    @precondition(lambda self: bool(_disputable()))
    @rule(data=st.data(), part=st.sampled_from([None, 2, 3]))
    def open_dispute(self, data, part: int | None) -> None:
        """The buyer's bank disputes a paid charge: all of what is left, a half or a third."""
        intents = _disputable()
        if not intents:
            return
        intent = db.session.get(SandboxPaymentIntent, data.draw(st.sampled_from(intents)))
        left = intent.amount_minor - intent.amount_refunded
        sandbox_disputes.open_dispute(intent.id, None if part is None else max(left // part, 1))
        db.session.commit()
        run_queued_jobs(self.app)
        db.session.expire_all()
        event("dispute opened")

    @precondition(lambda self: _exists(sa.select(Dispute.id).where(
        Dispute.status == DisputeStatus.OPEN)))
    @rule(won=st.booleans())
    def close_dispute(self, won: bool) -> None:
        dispute = db.session.scalar(sa.select(Dispute).where(Dispute.status == DisputeStatus.OPEN)
                                    .order_by(Dispute.id).limit(1))
        if dispute is None:
            return
        sandbox_disputes.close_dispute(dispute.provider_dispute_id, won)
        db.session.commit()
        run_queued_jobs(self.app)
        db.session.expire_all()
        event("dispute won" if won else "dispute lost")

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        broken = [(check.name, check.examples) for check in check_books() if not check.ok]
        assert broken == []

    @invariant()
    def every_charge_splits_exactly(self) -> None:
        captured = db.session.execute(
            sa.select(SubOrder.id, SubOrder.total_minor, SubOrder.tax_minor)
            .join(LedgerTransaction, LedgerTransaction.sub_order_id == SubOrder.id)
            .where(LedgerTransaction.kind == TransactionKind.PAYMENT_CAPTURED)).all()
        for sub_order_id, total, tax in captured:
            fee = _sum(sa.select(sa.func.sum(OrderLine.commission_minor))
                       .where(OrderLine.sub_order_id == sub_order_id))
            share = _posted_to(f"capture:sub_order:{sub_order_id}", AccountKind.VENDOR_PENDING)
            commission_posted = _posted_to(f"capture:sub_order:{sub_order_id}",
                                           AccountKind.COMMISSION_REVENUE)
            tax_posted = _posted_to(f"capture:sub_order:{sub_order_id}",
                                    AccountKind.TAX_PAYABLE)
            assert (share, commission_posted, tax_posted) == (total - tax - fee, fee, tax)
            assert share + commission_posted + tax_posted == total

    @invariant()
    def vendor_balances_follow_the_business(self) -> None:
        for vendor in getattr(self, "vendors", []):
            sales = _sum(sa.select(sa.func.sum(SubOrder.total_minor - SubOrder.tax_minor))
                         .where(SubOrder.vendor_id == vendor.id, _captured(SubOrder.id)))
            fees = _sum(sa.select(sa.func.sum(OrderLine.commission_minor))
                        .where(OrderLine.vendor_id == vendor.id,
                               _captured(OrderLine.sub_order_id)))
            refunded = _sum(sa.select(sa.func.sum(Refund.vendor_share_minor))
                            .where(Refund.vendor_id == vendor.id,
                                   Refund.status == RefundStatus.SUCCEEDED))
            lost = _dispute_share(vendor.id)
            paid = _sum(sa.select(sa.func.sum(Payout.amount_minor))
                        .where(Payout.vendor_id == vendor.id,
                               Payout.status != PayoutStatus.FAILED))
            reversed_ = _sum(sa.select(sa.func.sum(TransferReversal.amount_minor))
                             .where(TransferReversal.vendor_id == vendor.id,
                                    TransferReversal.status == ReversalStatus.SUCCEEDED))
            held = (_balance(AccountKind.VENDOR_PENDING, vendor.id)
                    + _balance(AccountKind.VENDOR_AVAILABLE, vendor.id))
            assert held == sales - fees - refunded - lost - paid + reversed_
            assert _balance(AccountKind.VENDOR_PAID_OUT, vendor.id) == paid - reversed_

    @invariant()
    def refunds_never_exceed_what_was_bought(self) -> None:
        over = db.session.execute(
            sa.select(OrderLine.id).join(RefundLine, RefundLine.order_line_id == OrderLine.id)
            .join(Refund, Refund.id == RefundLine.refund_id)
            .where(Refund.status.in_(REFUNDABLE))
            .group_by(OrderLine.id, OrderLine.quantity, OrderLine.net_minor)
            .having(sa.or_(sa.func.sum(RefundLine.quantity) > OrderLine.quantity,
                           sa.func.sum(RefundLine.net_minor) > OrderLine.net_minor))).all()
        assert over == []

    def teardown(self) -> None:
        db.session.rollback()


def _exists(stmt) -> bool:
    return db.session.scalar(stmt.limit(1)) is not None


def _disputable() -> list[str]:
    """The sandbox intents with a charge, something left of it and no dispute yet."""
    return list(db.session.scalars(
        sa.select(SandboxPaymentIntent.id)
        .join(Order, Order.payment_intent_id == SandboxPaymentIntent.id)
        .where(SandboxPaymentIntent.charge_id.is_not(None),
               SandboxPaymentIntent.amount_minor > SandboxPaymentIntent.amount_refunded,
               Order.id.not_in(sa.select(Dispute.order_id)))
        .order_by(SandboxPaymentIntent.id)))


def _method_of(vendor_id: int) -> int:
    from vendors.shipping_models import ShippingMethod

    return db.session.scalar(sa.select(ShippingMethod.id)
                             .where(ShippingMethod.vendor_id == vendor_id).limit(1))


def _captured(sub_order_id_column) -> sa.ColumnElement[bool]:
    return sa.exists().where(LedgerTransaction.sub_order_id == sub_order_id_column,
                             LedgerTransaction.kind == TransactionKind.PAYMENT_CAPTURED)


def _refundable_lines() -> list[tuple[int, int, int]]:
    """(line id, units not refunded yet, sub-order id) of every captured line."""
    taken = (sa.select(sa.func.coalesce(sa.func.sum(RefundLine.quantity), 0))
             .join(Refund, Refund.id == RefundLine.refund_id)
             .where(RefundLine.order_line_id == OrderLine.id,
                    Refund.status.in_(REFUNDABLE)).scalar_subquery())
    return [tuple(row) for row in db.session.execute(
        sa.select(OrderLine.id, OrderLine.quantity - taken, OrderLine.sub_order_id)
        .where(_captured(OrderLine.sub_order_id))
        .order_by(OrderLine.id)).all()]


def _posted_to(key: str, kind: AccountKind) -> int:
    from payouts.models import LedgerAccount

    return _sum(sa.select(sa.func.sum(LedgerPosting.amount_minor))
                .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                .join(LedgerAccount, LedgerAccount.id == LedgerPosting.credit_account_id)
                .where(LedgerTransaction.idempotency_key == key, LedgerAccount.kind == kind))


def _dispute_share(vendor_id: int) -> int:
    """What lost disputes took from the vendor: their debits of the vendor's accounts."""
    from payouts.models import LedgerAccount

    return _sum(sa.select(sa.func.sum(LedgerPosting.amount_minor))
                .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                .join(LedgerAccount, LedgerAccount.id == LedgerPosting.debit_account_id)
                .where(LedgerTransaction.kind == TransactionKind.DISPUTE_LOST,
                       LedgerAccount.vendor_id == vendor_id))


def _balance(kind: AccountKind, vendor_id: int) -> int:
    return ledger.balance_of(kind, "EUR", vendor_id=vendor_id).amount_minor


@pytest.mark.postgres_only
def test_the_books_hold_under_random_money_events(app):
    hold = app.config["SETTLEMENT_HOLD_DAYS"]
    app.config["SETTLEMENT_HOLD_DAYS"] = 0
    try:
        run_state_machine_as_test(
            lambda: Books(app),
            settings=settings(max_examples=EXAMPLES, stateful_step_count=20, deadline=None,
                              suppress_health_check=list(HealthCheck)))
    finally:
        app.config["SETTLEMENT_HOLD_DAYS"] = hold
