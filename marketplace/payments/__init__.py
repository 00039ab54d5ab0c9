"""The payment provider layer: one protocol in front of Stripe and an offline sandbox.

Code asks :func:`provider` for this app's provider and calls the protocol; it never imports
``stripe`` itself. With ``STRIPE_SECRET_KEY`` set the provider is Stripe (``STRIPE_API_BASE``
points it somewhere else, e.g. the test suite's fake Stripe server); without it the offline
sandbox stands in, so a laptop demo can walk through onboarding and checkout with no account
anywhere.

The protocol
------------
- Payout accounts: :meth:`~PaymentProvider.create_connected_account`,
  ``create_onboarding_link``, ``account_status`` (Stripe Connect Express).
- Payments, with *separate charges and transfers*: the platform takes one payment for a whole
  order (``create_payment_intent`` with the order's ``transfer_group``) and later transfers
  each seller's share (``create_transfer``, optionally with ``source_transaction`` = the
  intent's ``latest_charge``; ``find_transfer`` looks one up by its ``transfer_group``;
  ``reverse_transfer`` takes some back). ``create_refund`` gives
  money back to the buyer. Every creating call takes an ``idempotency_key``: the same key with
  the same parameters gives the same object (a retry never pays or refunds twice); the same
  key with other parameters raises :class:`PaymentProviderError` (code
  ``idempotency_error``). Build keys from your own ids, e.g. ``f"order-{order.id}-intent"``.
- ``pay_template``: the template the checkout's pay page includes, with the context
  ``intent`` (:class:`PaymentIntentInfo`), ``return_url`` (absolute URL the buyer is sent to
  after paying, with ``?payment_intent=<id>&redirect_status=succeeded|failed`` appended, as
  Stripe does) and ``order_reference`` (shown to the buyer). Card data never touches this
  server with Stripe (Stripe.js and the Payment Element talk to Stripe directly); the
  sandbox's page posts a test card number to its own route.

The outcome of a payment is never read from the return URL: it arrives as an event
(``payment_intent.succeeded``, ``payment_intent.payment_failed``, ``charge.refunded``, ...)
through :mod:`marketplace.payments.events`, the same path for Stripe webhooks and the
sandbox. The return page may call ``retrieve_payment_intent`` to show a status meanwhile.

Amounts are integer minor units of ``currency`` (ISO 4217, upper case in and out); they are
Stripe's units too for the currencies this marketplace sells in (EUR, USD, GBP, JPY).

Every provider method raises :class:`PaymentProviderError`, whose ``message`` is safe to show
to the person who clicked, for anything the provider refuses or can't be reached for; callers
turn it into a flash message, never a 500.

The sandbox provider writes rows in the caller's transaction (flushes, never commits), like
every service; Stripe calls happen at once and are not undone by a rollback, which is why
their idempotency keys matter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Protocol

from flask import Flask, current_app

from marketplace.money import Money
from marketplace.payments.records import (
    ProviderPayment,
    ProviderRefund,
    ProviderReversal,
    ProviderTransfer,
)

log = logging.getLogger(__name__)

__all__ = [
    "AccountStatus", "ConnectedAccountDetails", "PaymentIntentInfo", "PaymentProvider",
    "PaymentProviderError", "provider",
]

_EXTENSION = "marketplace.payments"


class PaymentProviderError(Exception):
    """The provider refused a request or could not be reached.

    ``message`` is translated and meant for the person who asked; ``retryable`` says whether
    trying again later may work (a timeout, a rate limit) or not (a refused parameter);
    ``code`` is Stripe's error code when there is one (``card_declined``,
    ``resource_missing``, ``payment_intent_unexpected_state``, ``idempotency_error``...),
    the same codes from the sandbox.
    """

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True)
class PaymentIntentInfo:
    """One payment for an order, as the provider holds it.

    ``status`` uses Stripe's names: ``requires_payment_method`` (new, or the last attempt
    failed: the buyer may try another card), ``requires_action`` (3-D Secure pending),
    ``processing``, ``succeeded``, ``canceled``. ``latest_charge`` is the charge id once paid
    (a transfer's ``source_transaction``); ``last_error`` the last attempt's failure message.
    """

    id: str
    client_secret: str
    status: str
    amount_minor: int
    currency: str
    latest_charge: str | None = None
    last_error: str | None = None
    metadata: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


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

    #: Template the checkout's pay page includes (context: intent, return_url,
    #: order_reference).
    pay_template: str

    def create_payment_intent(self, *, amount_minor: int, currency: str, transfer_group: str,
                              idempotency_key: str,
                              metadata: dict[str, str]) -> PaymentIntentInfo:
        """Open a card payment of ``amount_minor`` ``currency`` for the whole order, charged
        to the platform (separate charges and transfers). Status ``requires_payment_method``
        until the buyer pays on the pay page. ``metadata`` travels with the intent and its
        charge, and comes back in every event about them (put the order id there)."""

    def retrieve_payment_intent(self, intent_id: str) -> PaymentIntentInfo:
        """The intent as the provider holds it now."""

    def cancel_payment_intent(self, intent_id: str) -> PaymentIntentInfo:
        """Cancel an unpaid intent (emits ``payment_intent.canceled``). Raises
        PaymentProviderError (code ``payment_intent_unexpected_state``) when it has
        succeeded or was canceled already, like Stripe: check the status first."""

    def create_refund(self, *, payment_intent_id: str, amount_minor: int,
                      idempotency_key: str, metadata: dict[str, str]) -> str:
        """Give ``amount_minor`` of a succeeded payment back to the buyer; return the refund
        id. Emits ``charge.refunded`` (the charge's ``amount_refunded`` is the running
        total). Refunding more than is left raises PaymentProviderError."""

    def create_transfer(self, *, amount_minor: int, currency: str, destination: str,
                        transfer_group: str, source_transaction: str | None,
                        idempotency_key: str, metadata: dict[str, str]) -> str:
        """Move ``amount_minor`` from the platform to the connected account
        ``destination``; return the transfer id. With ``source_transaction`` (a charge id)
        the transfer is tied to that payment's funds and may not exceed its amount."""

    def find_transfer(self, *, transfer_group: str) -> str | None:
        """The id of the transfer made with ``transfer_group``, or None when there is none.

        How a caller whose ``create_transfer`` answer was lost (a crash, a timeout) learns
        whether the money went: give each transfer a group of its own (``payout-12``)."""

    def reverse_transfer(self, *, transfer_id: str, amount_minor: int,
                         idempotency_key: str) -> str:
        """Take ``amount_minor`` of a transfer back from the seller; return the reversal id.
        More than is left on the transfer raises PaymentProviderError."""

    # --- reading the provider's records (the reconciliation report) ----------------------
    # Windows are half-open (since <= created < until); answers are oldest or newest first,
    # callers must not rely on an order. Read-only; failures raise PaymentProviderError.

    def list_payments(self, since: dt.datetime, until: dt.datetime) -> list[ProviderPayment]:
        """Payment intents created in the window, paid or not."""

    def list_refunds(self, since: dt.datetime, until: dt.datetime) -> list[ProviderRefund]:
        """Refunds created in the window."""

    def list_transfers(self, since: dt.datetime, until: dt.datetime) -> list[ProviderTransfer]:
        """Transfers to connected accounts created in the window."""

    def list_transfer_reversals(self, transfer_id: str) -> list[ProviderReversal]:
        """Every reversal of one transfer."""


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
    # Imported here: both providers import this module's types (a top-level import would
    # be circular), and a sandbox install never builds a Stripe client.
    if secret_key:
        from marketplace.payments.stripe_provider import StripeProvider

        impl: PaymentProvider = StripeProvider(
            secret_key, api_base=api_base,
            max_network_retries=2 if retries is None else int(retries),
        )
    else:
        from marketplace.payments.sandbox import SandboxProvider

        impl = SandboxProvider()
        if not (app.debug or app.testing):
            # Built once per process: a production deploy that forgot its key says so loudly,
            # because the sandbox marks orders paid with test cards and no money moves.
            log.warning("Payments use the offline SANDBOX: test cards pay, no money moves. "
                        "Set STRIPE_SECRET_KEY to take real payments.")
    app.extensions[_EXTENSION] = (signature, impl)
    return impl
