"""Payout-account onboarding: the vendor's connected account at the payment provider.

"Connect payouts" opens an account at the provider (Stripe Connect Express, or the offline
sandbox) and sends the owner to the provider's onboarding link; when they come back, the
account's status is read from the provider and remembered on the vendor. Settlement and
payouts (the payouts issue) only pay vendors whose ``payouts_enabled`` is true.

Provider calls happen outside our transaction, so each step stands on its own: the account id
is stored (and committed by the caller) before a link is asked for, and opening the account is
idempotent, so a retry after any failure continues where the last attempt stopped.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from marketplace import payments
from marketplace.extensions import db
from marketplace.payments import ConnectedAccountDetails
from vendors.access import Actor, Permission
from vendors.errors import Conflict, InvalidInput
from vendors.models import Vendor


def ensure_payout_account(actor: Actor) -> Vendor:
    """Give the vendor a connected account at the current provider if it has none (or only
    one at a provider no longer configured). Returns the vendor; flushes.

    Raises PermissionDenied, and ``payments.PaymentProviderError`` when the provider refuses
    or can't be reached (nothing is changed then).
    """
    actor.require(Permission.MANAGE_PAYOUTS)
    vendor = db.session.get(Vendor, actor.vendor_id)
    provider = payments.provider()
    if vendor.payout_account_id and vendor.payout_provider == provider.name:
        return vendor
    account_id = provider.create_connected_account(ConnectedAccountDetails(
        reference=f"vendor-{vendor.id}", business_name=vendor.name, country=vendor.country,
        email=vendor.contact_email,
    ))
    vendor.payout_provider = provider.name
    vendor.payout_account_id = account_id
    vendor.payout_details_submitted = False
    vendor.payouts_enabled = False
    db.session.flush()
    return vendor


def onboarding_link(actor: Actor, *, return_url: str, refresh_url: str) -> str:
    """The provider's onboarding URL for the vendor's account.

    Raises PermissionDenied, Conflict when the vendor has no account at the current provider
    yet (call :func:`ensure_payout_account` first), ``payments.PaymentProviderError``.
    """
    actor.require(Permission.MANAGE_PAYOUTS)
    vendor = db.session.get(Vendor, actor.vendor_id)
    provider = payments.provider()
    if not vendor.payout_account_id or vendor.payout_provider != provider.name:
        raise Conflict(_("Connect payouts first."))
    return provider.create_onboarding_link(vendor.payout_account_id, return_url=return_url,
                                           refresh_url=refresh_url)


def refresh_payout_status(actor: Actor) -> Vendor:
    """Read the account's onboarding status from the provider and remember it; flushes.

    Raises PermissionDenied, ``payments.PaymentProviderError`` (the remembered status is
    kept then). A vendor without an account at the current provider is left as it is.
    """
    actor.require(Permission.VIEW_PAYOUTS)
    vendor = db.session.get(Vendor, actor.vendor_id)
    provider = payments.provider()
    if not vendor.payout_account_id or vendor.payout_provider != provider.name:
        return vendor
    status = provider.account_status(vendor.payout_account_id)
    vendor.payout_details_submitted = status.details_submitted
    vendor.payouts_enabled = status.payouts_enabled
    db.session.flush()
    return vendor


def set_payout_currency(actor: Actor, currency: str) -> Vendor:
    """Choose the currency the vendor is paid out in. Raises PermissionDenied, InvalidInput
    (``payout_currency``)."""
    actor.require(Permission.MANAGE_PAYOUTS)
    currencies = current_app.config["CURRENCIES"]
    if currency not in currencies:
        raise InvalidInput(_("Choose one of %(list)s.", list=", ".join(currencies)),
                           field="payout_currency")
    vendor = db.session.get(Vendor, actor.vendor_id)
    vendor.payout_currency = currency
    db.session.flush()
    return vendor


def connected_at_current_provider(vendor: Vendor) -> bool:
    """Whether the vendor's account belongs to the provider configured now."""
    return bool(vendor.payout_account_id) and vendor.payout_provider == payments.provider().name
