"""The offline sandbox provider: Stripe's test mode, played by this app and its database.

Everything lives in tables (``payment_sandbox_*``), never in memory, so every web process and
worker sees the same accounts and payments, as they would see Stripe's. Methods flush into
the caller's transaction and never commit.

- Payout onboarding: the link points at ``/payments/sandbox/onboarding/<token>`` (see
  ``sandbox_views``), where one click marks the account enabled and returns to
  ``return_url``, as Stripe's hosted onboarding would. The token is signed with SECRET_KEY and
  expires like Stripe's links do; an expired one sends the visitor to ``refresh_url``.
- Payments: intents, refunds, transfers and reversals behave like Stripe's, including
  idempotency keys (one table for all of them, like Stripe's keys) and the errors for
  refunding or reversing more than is left. The buyer pays on the sandbox's own pages with
  Stripe's test card numbers (``sandbox_checkout``); the outcomes are emitted as events
  through :mod:`marketplace.payments.events`, exactly like Stripe webhooks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.money import Money, UnknownCurrency
from marketplace.payments import (
    AccountStatus,
    ConnectedAccountDetails,
    PaymentIntentInfo,
    PaymentProviderError,
    events,
)
from marketplace.payments.models import (
    IntentStatus,
    PaymentEvent,
    SandboxAccount,
    SandboxIdempotencyKey,
    SandboxPaymentIntent,
    SandboxRefund,
    SandboxTransfer,
    SandboxTransferReversal,
)
from marketplace.payments.sandbox_records import SandboxRecordsMixin

LINK_SALT = "marketplace.payments.sandbox-onboarding"
# Stripe's account links last a few minutes; the sandbox's behave the same way.
LINK_MAX_AGE_SECONDS = 600
# Stripe's limits on metadata, so code that works here is not refused by Stripe.
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500


def link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def _new_id(prefix: str) -> str:
    return f"{prefix}_sbx_{secrets.token_hex(12)}"


class SandboxProvider(SandboxRecordsMixin):
    name = "sandbox"
    pay_template = "payments/sandbox_pay.html"

    # --- payout accounts -------------------------------------------------------------------

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

    # --- payments --------------------------------------------------------------------------

    def create_payment_intent(self, *, amount_minor: int, currency: str, transfer_group: str,
                              idempotency_key: str,
                              metadata: dict[str, str]) -> PaymentIntentInfo:
        request = {"kind": "payment_intent", "amount": amount_minor, "currency": currency,
                   "transfer_group": transfer_group, "metadata": metadata}

        def create(intent_id: str) -> None:
            code = _checked_money(amount_minor, currency)
            if not transfer_group or len(transfer_group) > 128:
                raise _refused(_("A transfer group of 1 to 128 characters is required."))
            db.session.add(SandboxPaymentIntent(
                id=intent_id, client_secret=f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
                amount_minor=amount_minor, currency=code, transfer_group=transfer_group,
                meta=_checked_metadata(metadata), status=IntentStatus.REQUIRES_PAYMENT_METHOD,
                amount_refunded=0,
            ))

        intent_id = _idempotent(idempotency_key, request, _new_id("pi"), create)
        return intent_info(_intent(intent_id))

    def retrieve_payment_intent(self, intent_id: str) -> PaymentIntentInfo:
        return intent_info(_intent(intent_id))

    def cancel_payment_intent(self, intent_id: str) -> PaymentIntentInfo:
        intent = _intent(intent_id, lock=True)
        if intent.status not in (IntentStatus.REQUIRES_PAYMENT_METHOD,
                                 IntentStatus.REQUIRES_ACTION):
            raise _refused(
                _("You cannot cancel this PaymentIntent because it has a status of "
                  "%(status)s.", status=intent.status.value),
                code="payment_intent_unexpected_state")
        intent.status = IntentStatus.CANCELED
        db.session.flush()
        events.emit("payment_intent.canceled", intent_object(intent))
        return intent_info(intent)

    def create_refund(self, *, payment_intent_id: str, amount_minor: int,
                      idempotency_key: str, metadata: dict[str, str]) -> str:
        request = {"kind": "refund", "payment_intent": payment_intent_id,
                   "amount": amount_minor, "metadata": metadata}

        def create(refund_id: str) -> None:
            intent = _intent(payment_intent_id, lock=True)
            if intent.status != IntentStatus.SUCCEEDED:
                raise _refused(
                    _("This PaymentIntent (%(id)s) does not have a successful charge to "
                      "refund.", id=intent.id), code="charge_not_refundable")
            if charge_disputed(intent.charge_id):
                raise _refused(_("The charge %(id)s has been disputed by the buyer's bank and "
                                 "can't be refunded.", id=intent.charge_id),
                               code="charge_disputed")
            _checked_amount(amount_minor, intent.amount_minor - intent.amount_refunded,
                            intent.currency)
            db.session.add(SandboxRefund(id=refund_id, payment_intent_id=intent.id,
                                         amount_minor=amount_minor,
                                         meta=_checked_metadata(metadata)))
            intent.amount_refunded += amount_minor
            db.session.flush()
            events.emit("charge.refunded", charge_object(intent))

        return _idempotent(idempotency_key, request, _new_id("re"), create)

    def create_transfer(self, *, amount_minor: int, currency: str, destination: str,
                        transfer_group: str, source_transaction: str | None,
                        idempotency_key: str, metadata: dict[str, str]) -> str:
        request = {"kind": "transfer", "amount": amount_minor, "currency": currency,
                   "destination": destination, "transfer_group": transfer_group,
                   "source_transaction": source_transaction, "metadata": metadata}

        def create(transfer_id: str) -> None:
            code = _checked_money(amount_minor, currency)
            account = db.session.get(SandboxAccount, destination)
            if account is None:
                raise _refused(_("No such destination: '%(id)s'", id=destination),
                               code="resource_missing")
            if not account.payouts_enabled:
                raise _refused(_("The destination account %(id)s has not finished onboarding "
                                 "and cannot receive transfers yet.", id=destination))
            if source_transaction is not None:
                _check_source(source_transaction, amount_minor, code)
            db.session.add(SandboxTransfer(
                id=transfer_id, amount_minor=amount_minor, currency=code,
                destination=destination, transfer_group=transfer_group,
                source_transaction=source_transaction, meta=_checked_metadata(metadata),
                amount_reversed=0,
            ))

        return _idempotent(idempotency_key, request, _new_id("tr"), create)

    def find_transfer(self, *, transfer_group: str) -> str | None:
        return db.session.scalar(
            sa.select(SandboxTransfer.id).where(SandboxTransfer.transfer_group == transfer_group)
            .order_by(SandboxTransfer.created_at, SandboxTransfer.id).limit(1)
        )

    def reverse_transfer(self, *, transfer_id: str, amount_minor: int,
                         idempotency_key: str) -> str:
        request = {"kind": "transfer_reversal", "transfer": transfer_id, "amount": amount_minor}

        def create(reversal_id: str) -> None:
            transfer = db.session.scalars(
                sa.select(SandboxTransfer).where(SandboxTransfer.id == transfer_id)
                .with_for_update()
            ).one_or_none()
            if transfer is None:
                raise _refused(_("No such transfer: '%(id)s'", id=transfer_id),
                               code="resource_missing")
            _checked_amount(amount_minor, transfer.amount_minor - transfer.amount_reversed,
                            transfer.currency)
            transfer.amount_reversed += amount_minor
            db.session.add(SandboxTransferReversal(id=reversal_id, transfer_id=transfer.id,
                                                   amount_minor=amount_minor))

        return _idempotent(idempotency_key, request, _new_id("trr"), create)


def complete_onboarding(account_id: str) -> SandboxAccount | None:
    """Mark a sandbox account as fully onboarded (details submitted, payouts enabled);
    returns None for an unknown account. Flushes; the caller commits."""
    account = db.session.get(SandboxAccount, account_id)
    if account is not None:
        account.details_submitted = True
        account.payouts_enabled = True
        db.session.flush()
    return account


def dispute_id_for(charge_id: str) -> str:
    """The id of the one dispute a charge can have in the sandbox (``sandbox_disputes``)."""
    return "dp_sbx_" + hashlib.sha256(charge_id.encode("utf-8")).hexdigest()[:24]


def charge_disputed(charge_id: str | None) -> bool:
    """Whether the sandbox opened a dispute on the charge that was not closed as won: like
    Stripe, it then refuses refunds (the bank gives the buyer the money, or may). The
    sandbox's disputes are the events it emitted about them."""
    if charge_id is None:
        return False
    emitted = db.session.scalars(
        sa.select(PaymentEvent).where(PaymentEvent.object_id == dispute_id_for(charge_id),
                                      PaymentEvent.event_id.like("evt_sbx_%"))).all()
    return bool(emitted) and not any(
        event.type == "charge.dispute.closed"
        and event.payload["data"]["object"].get("status") == "won" for event in emitted)


# --- Stripe-shaped objects (what events carry) --------------------------------------------

def intent_info(intent: SandboxPaymentIntent) -> PaymentIntentInfo:
    return PaymentIntentInfo(
        id=intent.id, client_secret=intent.client_secret, status=intent.status.value,
        amount_minor=intent.amount_minor, currency=intent.currency,
        latest_charge=intent.charge_id, last_error=intent.last_error,
        metadata=dict(intent.meta or {}),
    )


def intent_object(intent: SandboxPaymentIntent, *,
                  decline_code: str | None = None) -> dict[str, Any]:
    """The intent as a Stripe PaymentIntent dict (amounts in minor units, currency lower)."""
    succeeded = intent.status == IntentStatus.SUCCEEDED
    error = None
    if intent.last_error and not succeeded:
        error = {"type": "card_error", "code": decline_code or "card_declined",
                 "message": intent.last_error}
    return {
        "id": intent.id, "object": "payment_intent", "amount": intent.amount_minor,
        "amount_received": intent.amount_minor if succeeded else 0,
        "currency": intent.currency.lower(), "status": intent.status.value,
        "transfer_group": intent.transfer_group, "metadata": dict(intent.meta or {}),
        "latest_charge": intent.charge_id, "last_payment_error": error,
        "payment_method_types": ["card"], "livemode": False,
    }


def charge_object(intent: SandboxPaymentIntent) -> dict[str, Any]:
    """The intent's charge as a Stripe Charge dict (metadata copied from the intent)."""
    return {
        "id": intent.charge_id, "object": "charge", "amount": intent.amount_minor,
        "amount_captured": intent.amount_minor, "amount_refunded": intent.amount_refunded,
        "refunded": intent.amount_refunded == intent.amount_minor,
        "currency": intent.currency.lower(), "payment_intent": intent.id, "paid": True,
        "status": "succeeded", "transfer_group": intent.transfer_group,
        "metadata": dict(intent.meta or {}), "livemode": False,
    }


# --- helpers ------------------------------------------------------------------------------

def _refused(message: str, code: str | None = None) -> PaymentProviderError:
    return PaymentProviderError(
        _("The sandbox refused the request: %(detail)s", detail=message), code=code)


def _intent(intent_id: str, *, lock: bool = False) -> SandboxPaymentIntent:
    stmt = sa.select(SandboxPaymentIntent).where(SandboxPaymentIntent.id == intent_id)
    intent = db.session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if intent is None:
        raise _refused(_("No such payment_intent: '%(id)s'", id=intent_id),
                       code="resource_missing")
    return intent


def _checked_money(amount_minor: int, currency: str) -> str:
    """The upper-case currency code; refuses unknown codes and amounts below one minor unit."""
    try:
        money = Money(amount_minor, currency)
    except (TypeError, UnknownCurrency):
        raise _refused(_("An amount in whole minor units and a known currency are "
                         "required.")) from None
    if money.amount_minor < 1:
        raise _refused(_("The amount must be at least one minor unit."),
                       code="amount_too_small")
    return money.currency


def _checked_amount(amount_minor: int, left: int, currency: str) -> None:
    _checked_money(amount_minor, currency)
    if amount_minor > left:
        raise _refused(_("The amount (%(amount)s) is greater than what is left (%(left)s).",
                         amount=_formatted(amount_minor, currency),
                         left=_formatted(left, currency)),
                       code="amount_too_large")


def _formatted(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).format(str(get_locale() or "en"))


def _checked_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if not isinstance(metadata, dict) or len(metadata) > METADATA_MAX_KEYS or any(
        not isinstance(k, str) or not isinstance(v, str) or len(k) > METADATA_KEY_MAX
        or len(v) > METADATA_VALUE_MAX for k, v in metadata.items()
    ):
        raise _refused(_("Metadata takes up to 50 string keys of up to 40 characters with "
                         "string values of up to 500 characters."))
    return dict(metadata)


def _check_source(charge_id: str, amount_minor: int, currency: str) -> None:
    """A transfer from a charge's funds: the charge must be paid, in the same currency, and
    not already transferred beyond its amount."""
    intent = db.session.scalars(
        sa.select(SandboxPaymentIntent).where(SandboxPaymentIntent.charge_id == charge_id)
        .with_for_update()
    ).one_or_none()
    if intent is None:
        raise _refused(_("No such charge: '%(id)s'", id=charge_id), code="resource_missing")
    if intent.currency != currency:
        raise _refused(_("The transfer's currency must be the source charge's currency "
                         "(%(currency)s).", currency=intent.currency))
    transferred = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SandboxTransfer.amount_minor
                                               - SandboxTransfer.amount_reversed), 0))
        .where(SandboxTransfer.source_transaction == charge_id)
    )
    _checked_amount(amount_minor, intent.amount_minor - int(transferred), currency)


def _idempotent(key: str, request: dict[str, Any], new_id: str,
                create: Callable[[str], None]) -> str:
    """Run ``create(new_id)`` once per idempotency key; return the id the key stands for.

    The key is claimed first (insert, or find it taken): a key seen before returns its object
    without running anything, and a key seen with a different request is refused like Stripe
    refuses it. Two transactions claiming one key at once: the second waits for the first to
    commit and then gets its object.
    """
    if not key or len(key) > 255:
        raise _refused(_("An idempotency key of 1 to 255 characters is required."))
    digest = hashlib.sha256(
        json.dumps(request, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claimed = db.session.scalar(
        insert(SandboxIdempotencyKey)
        .values(key=key, request_hash=digest, object_id=new_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(SandboxIdempotencyKey.key)
    )
    if claimed is not None:
        try:
            create(new_id)
            db.session.flush()
        except PaymentProviderError:
            # A refused request leaves no key behind: the caller may commit other work, and
            # the same key may be tried again once the cause is fixed.
            db.session.execute(sa.delete(SandboxIdempotencyKey)
                               .where(SandboxIdempotencyKey.key == key))
            raise
        return new_id
    seen = db.session.scalars(
        sa.select(SandboxIdempotencyKey).where(SandboxIdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    ).one()
    if seen.request_hash != digest:
        raise _refused(_("Keys for idempotent requests can only be used with the same "
                         "parameters they were first used with."), code="idempotency_error")
    return seen.object_id
