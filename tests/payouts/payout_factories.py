"""Vendors ready to be paid out, and money on their ledger accounts, for the payouts tests."""

from __future__ import annotations

import datetime as dt
import itertools

from marketplace.extensions import db
from marketplace.payments import ConnectedAccountDetails, provider
from marketplace.payments.sandbox import complete_onboarding
from payouts import ledger
from payouts.models import AccountKind, TransactionKind
from tests.factories import make_vendor
from tests.fakes.stripe_server import FakeStripe
from vendors.models import Vendor

_seq = itertools.count(1)


def make_payable_vendor(name: str = "Fjord & Field", *, fake_stripe: FakeStripe | None = None,
                        owner=None, minimum_minor: int = 0) -> Vendor:
    """An approved vendor whose payout account (sandbox, or the fake Stripe's) can receive
    transfers."""
    vendor = make_vendor(name, owner=owner)
    details = ConnectedAccountDetails(reference=f"vendor-{vendor.id}", business_name=name,
                                      country="DE")
    account_id = provider().create_connected_account(details)
    if fake_stripe is not None:
        fake_stripe.complete_onboarding(account_id)
    else:
        complete_onboarding(account_id)
    vendor.payout_provider = provider().name
    vendor.payout_account_id = account_id
    vendor.payout_details_submitted = True
    vendor.payouts_enabled = True
    vendor.payout_minimum_minor = minimum_minor
    db.session.flush()
    return vendor


def fund(vendor: Vendor, amount_minor: int, currency: str = "EUR", *,
         settled: bool = True) -> None:
    """A sale paid (provider cash -> pending) and, when ``settled``, released (pending ->
    available), as the capture handler and the settlement job post them."""
    n = next(_seq)
    cash = ledger.account(AccountKind.PROVIDER_CASH, currency)
    pending = ledger.account(AccountKind.VENDOR_PENDING, currency, vendor_id=vendor.id)
    ledger.post(TransactionKind.PAYMENT_CAPTURED, f"test-capture:{n}",
                [(cash.id, pending.id, amount_minor, currency)], vendor_id=vendor.id)
    if settled:
        available = ledger.account(AccountKind.VENDOR_AVAILABLE, currency, vendor_id=vendor.id)
        ledger.post(TransactionKind.SETTLEMENT_RELEASE, f"test-settle:{n}",
                    [(pending.id, available.id, amount_minor, currency)], vendor_id=vendor.id)
    db.session.flush()


def available(vendor_id: int, currency: str = "EUR") -> int:
    return ledger.balance_of(AccountKind.VENDOR_AVAILABLE, currency,
                             vendor_id=vendor_id).amount_minor


def paid_out(vendor_id: int, currency: str = "EUR") -> int:
    return ledger.balance_of(AccountKind.VENDOR_PAID_OUT, currency,
                             vendor_id=vendor_id).amount_minor


def later() -> dt.datetime:
    """Past PAYOUT_RECONCILE_MINUTES (15) from now: the reconciler treats a claim made now as
    stuck. (Worked out when called: a constant taken at import goes stale in a long run.)"""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)
