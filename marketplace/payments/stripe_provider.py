"""The Stripe provider: Connect Express accounts and account links through ``StripeClient``.

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

from marketplace.payments import AccountStatus, ConnectedAccountDetails, PaymentProviderError

log = logging.getLogger(__name__)

# Seconds to connect, then to wait for an answer: a seller is watching a page load.
TIMEOUT = (5, 20)


class StripeProvider:
    name = "stripe"

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
            raise PaymentProviderError(message, retryable=retryable) from error


def _explain(error: stripe.StripeError) -> tuple[str, bool]:
    """A message for the seller, and whether trying again later may work."""
    if isinstance(error, stripe.APIConnectionError):
        return _("Stripe can't be reached right now. Nothing was changed; please try again "
                 "in a few minutes."), True
    if isinstance(error, stripe.RateLimitError):
        return _("Stripe is busy right now. Please try again in a minute."), True
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return _("Stripe refused the marketplace's credentials. Please tell the marketplace "
                 "team; nothing was changed."), False
    if isinstance(error, stripe.InvalidRequestError | stripe.IdempotencyError):
        detail = error.user_message or _("no reason given")
        return _("Stripe refused the request: %(detail)s", detail=detail), False
    return _("Stripe reported a problem (%(status)s). Nothing was changed; please try again "
             "later.", status=error.http_status or "?"), True
