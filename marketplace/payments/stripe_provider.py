"""The Stripe provider, through ``StripeClient``: Connect Express accounts and account links,
and payments with separate charges and transfers (one PaymentIntent per order with a
``transfer_group``, transfers to sellers with ``source_transaction``, refunds, reversals).

Every call goes through :meth:`StripeProvider._call`, which turns Stripe's exceptions into
:class:`~marketplace.payments.PaymentProviderError` with a message for the seller and logs the
details (Stripe's request id, code and message) for the operator.

POSTs carry an idempotency key derived from what they create, and the client retries
connection errors, 409s and 5xx answers with that same key, so a lost answer never opens a
second account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import stripe
from flask_babel import gettext as _

from marketplace.payments import (
    AccountStatus,
    ConnectedAccountDetails,
    PaymentIntentInfo,
    PaymentProviderError,
)
from marketplace.payments.stripe_records import StripeRecordsMixin

log = logging.getLogger(__name__)

# Seconds to connect, then to wait for an answer: a seller is watching a page load.
TIMEOUT = (5, 20)


class StripeProvider(StripeRecordsMixin):
    name = "stripe"
    pay_template = "payments/stripe_pay.html"

    def __init__(self, secret_key: str, *, api_base: str | None = None,
                 max_network_retries: int = 2):
        base_addresses: dict[str, str] = {}
        if api_base:
            base_addresses = {"api": api_base.rstrip("/"), "connect": api_base.rstrip("/")}
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=base_addresses,  # type: ignore[arg-type]
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=TIMEOUT),
        )

    def create_connected_account(self, details: ConnectedAccountDetails) -> str:
        params: dict[str, Any] = {
            "type": "express",
            "country": details.country,
            "business_profile": {"name": details.business_name},
            # Separate charges and transfers: the platform charges buyers and transfers each
            # seller's share, so sellers need the transfers capability only.
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"marketplace_reference": details.reference},
        }
        if details.email:
            params["email"] = details.email
        account = self._call(
            self._client.v1.accounts.create, params,
            {"idempotency_key": details.idempotency_key()},
        )
        return account.id

    def create_onboarding_link(self, account_id: str, *, return_url: str,
                               refresh_url: str) -> str:
        link = self._call(self._client.v1.account_links.create, {
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        })
        return link.url

    def account_status(self, account_id: str) -> AccountStatus:
        account = self._call(self._client.v1.accounts.retrieve, account_id)
        return AccountStatus(bool(account.details_submitted), bool(account.payouts_enabled))

    def create_payment_intent(self, *, amount_minor: int, currency: str, transfer_group: str,
                              idempotency_key: str,
                              metadata: dict[str, str]) -> PaymentIntentInfo:
        intent = self._call(self._client.v1.payment_intents.create, {
            "amount": amount_minor,
            "currency": currency.lower(),
            # Separate charges and transfers: the platform is charged; each seller's share
            # is transferred later with this group (no transfer_data, no on_behalf_of).
            "transfer_group": transfer_group,
            # Cards only: they settle at once, so transfers may use the charge as their
            # source_transaction, and the sandbox plays the same methods.
            "payment_method_types": ["card"],
            "metadata": metadata,
        }, {"idempotency_key": idempotency_key})
        return _intent_info(intent)

    def retrieve_payment_intent(self, intent_id: str) -> PaymentIntentInfo:
        return _intent_info(self._call(self._client.v1.payment_intents.retrieve, intent_id))

    def cancel_payment_intent(self, intent_id: str) -> PaymentIntentInfo:
        return _intent_info(self._call(self._client.v1.payment_intents.cancel, intent_id))

    def create_refund(self, *, payment_intent_id: str, amount_minor: int,
                      idempotency_key: str, metadata: dict[str, str]) -> str:
        refund = self._call(self._client.v1.refunds.create, {
            "payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata,
        }, {"idempotency_key": idempotency_key})
        return refund.id

    def create_transfer(self, *, amount_minor: int, currency: str, destination: str,
                        transfer_group: str, source_transaction: str | None,
                        idempotency_key: str, metadata: dict[str, str]) -> str:
        params: dict[str, Any] = {
            "amount": amount_minor, "currency": currency.lower(), "destination": destination,
            "transfer_group": transfer_group, "metadata": metadata,
        }
        if source_transaction:
            params["source_transaction"] = source_transaction
        transfer = self._call(self._client.v1.transfers.create, params,
                              {"idempotency_key": idempotency_key})
        return transfer.id

    def find_transfer(self, *, transfer_group: str) -> str | None:
        found = self._call(self._client.v1.transfers.list,
                           {"transfer_group": transfer_group, "limit": 1})
        return found.data[0].id if found.data else None

    def reverse_transfer(self, *, transfer_id: str, amount_minor: int,
                         idempotency_key: str) -> str:
        reversal = self._call(self._client.v1.transfers.reversals.create, transfer_id,
                              {"amount": amount_minor}, {"idempotency_key": idempotency_key})
        return reversal.id

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except stripe.StripeError as error:
            log.warning(
                "Stripe refused a request",
                extra={"stripe_request_id": error.request_id, "stripe_code": error.code,
                       "stripe_status": error.http_status, "stripe_message": error.user_message},
            )
            message, retryable = _explain(error)
            code = error.code
            if code is None and isinstance(error, stripe.IdempotencyError):
                code = "idempotency_error"
            raise PaymentProviderError(message, retryable=retryable, code=code) from error


def _intent_info(intent: Any) -> PaymentIntentInfo:
    data = intent.to_dict()
    charge = data.get("latest_charge")
    error = data.get("last_payment_error")
    return PaymentIntentInfo(
        id=data["id"], client_secret=data["client_secret"], status=data["status"],
        amount_minor=int(data["amount"]), currency=str(data["currency"]).upper(),
        # An id, unless someone asked Stripe to expand it into the charge.
        latest_charge=charge["id"] if isinstance(charge, dict) else charge,
        last_error=error.get("message") if error else None,
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def _explain(error: stripe.StripeError) -> tuple[str, bool]:
    """A message for the seller, and whether trying again later may work."""
    if isinstance(error, stripe.APIConnectionError):
        return _("Stripe can't be reached right now. Nothing was changed; please try again "
                 "in a few minutes."), True
    if isinstance(error, stripe.RateLimitError):
        return _("Stripe is busy right now. Please try again in a minute."), True
    if isinstance(error, stripe.CardError):
        return error.user_message or _("The card was declined."), False
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return _("Stripe refused the marketplace's credentials. Please tell the marketplace "
                 "team; nothing was changed."), False
    if isinstance(error, stripe.InvalidRequestError | stripe.IdempotencyError):
        detail = error.user_message or _("no reason given")
        return _("Stripe refused the request: %(detail)s", detail=detail), False
    return _("Stripe reported a problem (%(status)s). Nothing was changed; please try again "
             "later.", status=error.http_status or "?"), True
