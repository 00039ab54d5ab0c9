"""The offline sandbox provider: payout onboarding that completes on a page of this app.

Accounts are rows of :class:`~marketplace.payments.models.SandboxAccount`. The onboarding link
points at ``/payments/sandbox/onboarding/<token>`` (see ``sandbox_views``), where one click
marks the account enabled and returns to ``return_url``, as Stripe's hosted onboarding would.
The token is signed with SECRET_KEY and expires like Stripe's links do; an expired one sends
the visitor to ``refresh_url``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer

from marketplace.extensions import db
from marketplace.payments import AccountStatus, ConnectedAccountDetails, PaymentProviderError
from marketplace.payments.models import SandboxAccount

LINK_SALT = "marketplace.payments.sandbox-onboarding"
# Stripe's account links last a few minutes; the sandbox's behave the same way.
LINK_MAX_AGE_SECONDS = 600


def link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


class SandboxProvider:
    name = "sandbox"

    def create_connected_account(self, details: ConnectedAccountDetails) -> str:
        """Flushes the account row into the caller's transaction; the same details give the
        same account (the idempotency key is the id's seed)."""
        key = details.idempotency_key().encode("utf-8")
        account_id = "acct_sandbox_" + hashlib.sha256(key).hexdigest()[:16]
        if db.session.get(SandboxAccount, account_id) is None:
            db.session.add(SandboxAccount(
                id=account_id, reference=details.reference, business_name=details.business_name,
                country=details.country, email=details.email,
            ))
            db.session.flush()
        return account_id

    def create_onboarding_link(self, account_id: str, *, return_url: str,
                               refresh_url: str) -> str:
        self._account(account_id)
        payload: dict[str, Any] = {"account": account_id, "return_url": return_url,
                                   "refresh_url": refresh_url}
        token = link_serializer().dumps(payload)
        return url_for("payments_sandbox.onboarding", token=token, _external=True)

    def account_status(self, account_id: str) -> AccountStatus:
        account = self._account(account_id)
        return AccountStatus(account.details_submitted, account.payouts_enabled)

    def _account(self, account_id: str) -> SandboxAccount:
        account = db.session.get(SandboxAccount, account_id)
        if account is None:
            raise PaymentProviderError(
                _("The sandbox has no payout account %(id)s.", id=account_id)
            )
        return account


def complete_onboarding(account_id: str) -> SandboxAccount | None:
    """Mark a sandbox account as fully onboarded (details submitted, payouts enabled);
    returns None for an unknown account. Flushes; the caller commits."""
    account = db.session.get(SandboxAccount, account_id)
    if account is not None:
        account.details_submitted = True
        account.payouts_enabled = True
        db.session.flush()
    return account
