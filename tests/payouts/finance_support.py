"""Factories for the statements, finance and reconciliation tests: ledger postings at a chosen
moment, paid orders with a real sandbox payment, and refunds, payouts and transfer reversals
with their ledger transactions and the sandbox's matching objects."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator

import pytest

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.models import User
from marketplace.payments import provider
from marketplace.payments.models import IntentStatus, SandboxPaymentIntent
from payouts import capture, ledger, payouts
from payouts.models import (
    AccountKind,
    Payout,
    PayoutStatus,
    Refund,
    RefundInitiator,
    RefundStatus,
    ReversalStatus,
    TransactionKind,
    TransferReversal,
)
from tests.fakes.stripe_server import FakeStripe
from tests.order_factories import Part, make_order
from tests.vendors.factories import make_variant
from vendors.models import Vendor
from vendors.order_models import Order

_seq = itertools.count(1)


@contextlib.contextmanager
def ledger_clock(moment: dt.datetime) -> Iterator[None]:
    """Ledger transactions posted inside are dated ``moment`` (the ledger's only clock)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "utcnow", lambda: moment)
        yield


def accounts(vendor_id: int | None, currency: str = "EUR") -> dict[str, int]:
    kinds = ([AccountKind.VENDOR_PENDING, AccountKind.VENDOR_AVAILABLE,
              AccountKind.VENDOR_PAID_OUT] if vendor_id is not None else
             [AccountKind.PROVIDER_CASH, AccountKind.COMMISSION_REVENUE,
              AccountKind.TAX_PAYABLE])
    return {kind.value: ledger.account(kind, currency, vendor_id=vendor_id).id
            for kind in kinds}


def post_sale(vendor: Vendor, *, gross: int, commission: int, tax: int = 0,
              currency: str = "EUR", order: Order | None = None) -> None:
    """A captured sale: cash -> tax payable, commission revenue, the vendor's pending."""
    platform, own = accounts(None, currency), accounts(vendor.id, currency)
    legs = [(platform["provider_cash"], platform["tax_payable"], tax, currency),
            (platform["provider_cash"], platform["commission_revenue"], commission, currency),
            (platform["provider_cash"], own["vendor_pending"], gross - tax - commission,
             currency)]
    ledger.post(TransactionKind.PAYMENT_CAPTURED, f"test-sale:{next(_seq)}",
                [leg for leg in legs if leg[2] > 0], vendor_id=vendor.id,
                order_id=order.id if order else None)


def post_settle(vendor: Vendor, amount: int, currency: str = "EUR") -> None:
    own = accounts(vendor.id, currency)
    ledger.post(TransactionKind.SETTLEMENT_RELEASE, f"test-settle:{next(_seq)}",
                [(own["vendor_pending"], own["vendor_available"], amount, currency)],
                vendor_id=vendor.id)


def post_refund(vendor: Vendor, *, vendor_share: int, commission: int = 0,
                currency: str = "EUR", refund: Refund | None = None,
                from_kind: str = "vendor_available") -> None:
    """A refund given back to the buyer: the vendor's share and the commission back to
    provider cash."""
    platform, own = accounts(None, currency), accounts(vendor.id, currency)
    legs = [(own[from_kind], platform["provider_cash"], vendor_share, currency),
            (platform["commission_revenue"], platform["provider_cash"], commission, currency)]
    ledger.post(TransactionKind.REFUND,
                f"refund:{refund.id}" if refund else f"test-refund:{next(_seq)}",
                [leg for leg in legs if leg[2] > 0], vendor_id=vendor.id,
                refund_id=refund.id if refund else None,
                order_id=refund.order_id if refund else None,
                sub_order_id=refund.sub_order_id if refund else None)


def post_payout(vendor: Vendor, amount: int, currency: str = "EUR") -> Payout:
    """A paid payout row and its ``payout_sent`` posting (no provider transfer)."""
    payout = Payout(vendor_id=vendor.id, currency=currency, amount_minor=amount,
                    status=PayoutStatus.PAID, provider="sandbox", destination="acct_test",
                    attempts=1, completed_at=utcnow())
    db.session.add(payout)
    db.session.flush()
    own = accounts(vendor.id, currency)
    ledger.post(TransactionKind.PAYOUT_SENT, f"payout:{payout.id}",
                [(own["vendor_available"], own["vendor_paid_out"], amount, currency)],
                vendor_id=vendor.id, payout_id=payout.id)
    return payout


# --- with the sandbox's objects (the reconciliation's tests) ---------------------------------


def paid_order(buyer: User, vendor: Vendor, price_minor: int, *, shipping_minor: int = 0,
               received_minor: int | None = None, capture_it: bool = True,
               fake_stripe: FakeStripe | None = None) -> Order:
    """A paid order with a succeeded payment (the sandbox's, or the fake Stripe's) and
    (``capture_it``) the ledger's capture, as the payment event leaves them.
    ``received_minor`` makes the provider's payment another amount than the order's."""
    variant = make_variant(vendor, price_minor=price_minor)
    order = make_order(buyer, Part(((variant, 1),), shipping_minor=shipping_minor),
                       currency=vendor.default_currency)
    info = provider().create_payment_intent(
        amount_minor=received_minor or order.total_minor, currency=order.currency,
        transfer_group=f"order-{order.id}", idempotency_key=f"order-{order.id}-intent",
        metadata={"order_id": str(order.id)})
    if fake_stripe is not None:
        assert fake_stripe.pay(info.id)["status"] == "succeeded"
    else:
        intent = db.session.get(SandboxPaymentIntent, info.id)
        intent.status = IntentStatus.SUCCEEDED
        intent.charge_id = "ch_sbx_" + info.id.removeprefix("pi_sbx_")
    order.payment_intent_id = info.id
    order.transfer_group = f"order-{order.id}"
    db.session.flush()
    if capture_it:
        capture.post_order_captures(order.id)
    return order


def succeeded_refund(order: Order, amount: int, *, provider_amount: int | None = None,
                     at_provider: bool = True, in_ledger: bool = True) -> Refund:
    """A succeeded refund of the order's (first) vendor part: the row, the sandbox's refund
    (of ``provider_amount``, default the same) and the ledger's ``refund`` transaction."""
    sub = order.sub_orders[0]
    refund = Refund(order_id=order.id, sub_order_id=sub.id, vendor_id=sub.vendor_id,
                    currency=order.currency, status=RefundStatus.SUCCEEDED,
                    initiated_by=RefundInitiator.ADMIN, amount_minor=amount,
                    vendor_share_minor=amount, commission_minor=0, tax_minor=0,
                    provider=provider().name, attempts=1, completed_at=utcnow())
    db.session.add(refund)
    db.session.flush()
    if at_provider:
        refund.provider_refund_id = provider().create_refund(
            payment_intent_id=order.payment_intent_id,
            amount_minor=provider_amount or amount, idempotency_key=refund.idempotency_key,
            metadata={"refund_id": str(refund.id)})
    if in_ledger:
        post_refund(db.session.get(Vendor, sub.vendor_id), vendor_share=amount,
                    currency=order.currency, refund=refund, from_kind="vendor_pending")
    db.session.flush()
    return refund


def sent_payout(vendor: Vendor, currency: str = "EUR") -> Payout:
    """The vendor's available balance paid out through the real payout service (the
    sandbox's transfer)."""
    payout = payouts.create_payout(vendor.id, currency)
    db.session.commit()
    assert payouts.send_payout(payout.id) == "paid"
    return db.session.get(Payout, payout.id)


def succeeded_reversal(payout: Payout, amount: int, *, provider_amount: int | None = None,
                       in_ledger: bool = True) -> TransferReversal:
    """A succeeded reversal of a paid payout's transfer: row, sandbox reversal, ledger."""
    reversal = TransferReversal(payout_id=payout.id, vendor_id=payout.vendor_id,
                                currency=payout.currency, amount_minor=amount,
                                status=ReversalStatus.SUCCEEDED, completed_at=utcnow())
    db.session.add(reversal)
    db.session.flush()
    reversal.provider_reversal_id = provider().reverse_transfer(
        transfer_id=payout.transfer_id, amount_minor=provider_amount or amount,
        idempotency_key=reversal.idempotency_key)
    if in_ledger:
        own = accounts(payout.vendor_id, payout.currency)
        ledger.post(TransactionKind.TRANSFER_REVERSAL, f"reversal:{reversal.id}",
                    [(own["vendor_paid_out"], own["vendor_available"], amount,
                      payout.currency)],
                    vendor_id=payout.vendor_id, payout_id=payout.id)
    db.session.flush()
    return reversal
