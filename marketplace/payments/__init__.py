"""The payment provider layer: one protocol in front of Stripe and an offline sandbox.

Code asks :func:`provider` for this app's provider and calls the protocol; it never imports
``stripe`` itself. With ``STRIPE_SECRET_KEY`` set the provider is Stripe (``STRIPE_API_BASE``
points it somewhere else, e.g. the test suite's fake Stripe server); without it the offline
sandbox stands in, so a laptop demo can walk through payout onboarding with no account
anywhere.

Today the protocol covers payout-account onboarding (Stripe Connect Express accounts and
account links). The checkout and payouts issues extend the same protocol with payments,
transfers and refunds, implemented by both providers.

Every provider method raises :class:`PaymentProviderError`, whose ``message`` is safe to show
to the person who clicked, for anything the provider refuses or can't be reached for; callers
turn it into a flash message, never a 500.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import NamedTuple, Protocol

from flask import Flask, current_app

__all__ = [
    "AccountStatus", "ConnectedAccountDetails", "PaymentProvider", "PaymentProviderError",
    "provider",
]

_EXTENSION = "marketplace.payments"


class PaymentProviderError(Exception):
    """The provider refused a request or could not be reached.

    ``message`` is translated and meant for the person who asked; ``retryable`` says whether
    trying again later may work (a timeout, a rate limit) or not (a refused parameter).
    """

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class ConnectedAccountDetails:
    """What the provider needs to open a payout account for a seller.

    ``reference`` is our own name for the account holder (e.g. ``vendor-12``); it travels as
    metadata so the provider's dashboard can be matched back to our rows.
    """

    reference: str
    business_name: str
    country: str
    email: str | None = None

    def idempotency_key(self) -> str:
        """The same details give the same key, so a double click, a retry after a lost
        answer or two owners clicking at once open one account, not several."""
        digest = hashlib.sha256(
            json.dumps(asdict(self), sort_keys=True).encode("utf-8")
        ).hexdigest()[:24]
        return f"connected-account-{self.reference}-{digest}"


class AccountStatus(NamedTuple):
    """Where a connected account's onboarding stands at the provider."""

    details_submitted: bool
    payouts_enabled: bool


class PaymentProvider(Protocol):
    #: Stored beside account ids, so ids of one provider are never sent to another.
    name: str

    def create_connected_account(self, details: ConnectedAccountDetails) -> str:
        """Open a payout account for a seller; return its id. Idempotent per ``details``."""

    def create_onboarding_link(self, account_id: str, *, return_url: str,
                               refresh_url: str) -> str:
        """A short-lived URL where the seller completes onboarding. The provider sends them
        to ``return_url`` when they leave the flow (finished or not) and to ``refresh_url``
        when the link has expired or was already used."""

    def account_status(self, account_id: str) -> AccountStatus:
        """Whether the seller has submitted their details and payouts are enabled."""


def provider(app: Flask | None = None) -> PaymentProvider:
    """This app's payment provider: Stripe when STRIPE_SECRET_KEY is set, else the sandbox.

    Built once per configuration and reused; changing the settings (tests do) builds anew.
    """
    app = app or current_app._get_current_object()
    config = app.config
    signature = (config.get("STRIPE_SECRET_KEY"), config.get("STRIPE_API_BASE"),
                 config.get("STRIPE_MAX_NETWORK_RETRIES"))
    cached = app.extensions.get(_EXTENSION)
    if cached is not None and cached[0] == signature:
        return cached[1]
    secret_key, api_base, retries = signature
    # Imported here so that an install without Stripe configured never loads the library.
    if secret_key:
        from marketplace.payments.stripe_provider import StripeProvider

        impl: PaymentProvider = StripeProvider(
            secret_key, api_base=api_base,
            max_network_retries=2 if retries is None else int(retries),
        )
    else:
        from marketplace.payments.sandbox import SandboxProvider

        impl = SandboxProvider()
    app.extensions[_EXTENSION] = (signature, impl)
    return impl
