"""Paying a sandbox payment intent with Stripe's test card numbers.

=====================  ==================================================================
card number            outcome
=====================  ==================================================================
4242 4242 4242 4242    succeeds: ``payment_intent.succeeded``
4000 0000 0000 0002    declined ("Your card was declined."): ``payment_intent.payment_failed``;
                       the intent goes back to ``requires_payment_method`` and the buyer
                       may try another card
4000 0025 0000 3155    needs 3-D Secure: the buyer approves (succeeds) or fails (declined,
                       as above) on a confirm page
=====================  ==================================================================

Any other number is refused as a form error (no attempt, no event). The pay form carries a
token signed with SECRET_KEY naming the intent, its client secret and the return URL, so the
sandbox's routes only ever redirect where this app's own checkout asked them to.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.payments import PaymentIntentInfo, events
from marketplace.payments.models import IntentStatus, SandboxPaymentIntent
from marketplace.payments.sandbox import intent_object

PAY_SALT = "marketplace.payments.sandbox-pay"

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_NEEDS_AUTHENTICATION = "4000002500003155"
TEST_CARDS = (CARD_SUCCEEDS, CARD_DECLINED, CARD_NEEDS_AUTHENTICATION)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"
    ALREADY_PAID = "already_paid"
    CANCELED = "canceled"


@dataclass(frozen=True)
class PayLink:
    """What a pay form's token names: which intent, proven by its secret, where to go after
    paying, and the order reference to show."""

    intent_id: str
    client_secret: str
    return_url: str
    order_reference: str


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=PAY_SALT)


def pay_token(intent: PaymentIntentInfo, return_url: str, order_reference: str = "") -> str:
    return _serializer().dumps({"intent": intent.id, "secret": intent.client_secret,
                                "return_url": return_url, "reference": order_reference})


def read_pay_token(token: str) -> PayLink | None:
    """The link a token names, or None for a forged or altered one."""
    try:
        data: dict[str, Any] = _serializer().loads(token)
        return PayLink(str(data["intent"]), str(data["secret"]), str(data["return_url"]),
                       str(data.get("reference", "")))
    except (BadSignature, KeyError, TypeError):
        return None


def normalise_card_number(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "")


def locked_intent(link: PayLink) -> SandboxPaymentIntent | None:
    """The link's intent, locked for this transaction; None unless its secret matches."""
    intent = db.session.scalars(
        select(SandboxPaymentIntent).where(SandboxPaymentIntent.id == link.intent_id)
        .with_for_update()
    ).one_or_none()
    if intent is None or not hmac.compare_digest(intent.client_secret, link.client_secret):
        return None
    return intent


def pay_with_card(intent: SandboxPaymentIntent, card_number: str) -> Outcome:
    """Attempt a payment with a test card (one of :data:`TEST_CARDS`). Flushes and emits the
    outcome's event; the caller commits."""
    if intent.status == IntentStatus.SUCCEEDED:
        return Outcome.ALREADY_PAID  # a double click: the first one paid
    if intent.status == IntentStatus.CANCELED:
        return Outcome.CANCELED
    if card_number == CARD_DECLINED:
        _fail(intent, _("Your card was declined."), "card_declined")
        return Outcome.DECLINED
    if card_number == CARD_NEEDS_AUTHENTICATION:
        intent.status = IntentStatus.REQUIRES_ACTION
        intent.last_error = None
        db.session.flush()
        return Outcome.REQUIRES_ACTION
    _succeed(intent)
    return Outcome.SUCCEEDED


def finish_authentication(intent: SandboxPaymentIntent, approved: bool) -> Outcome:
    """The buyer's answer on the 3-D Secure page. Flushes and emits; the caller commits."""
    if intent.status == IntentStatus.SUCCEEDED:
        return Outcome.ALREADY_PAID
    if intent.status != IntentStatus.REQUIRES_ACTION:
        return Outcome.CANCELED if intent.status == IntentStatus.CANCELED else Outcome.DECLINED
    if not approved:
        _fail(intent, _("We are unable to authenticate your payment method. Please choose a "
                        "different payment method and try again."),
              "payment_intent_authentication_failure")
        return Outcome.DECLINED
    _succeed(intent)
    return Outcome.SUCCEEDED


def _succeed(intent: SandboxPaymentIntent) -> None:
    intent.status = IntentStatus.SUCCEEDED
    intent.last_error = None
    intent.charge_id = "ch_sbx_" + intent.id.removeprefix("pi_sbx_")
    intent.updated_at = utcnow()
    db.session.flush()
    events.emit("payment_intent.succeeded", intent_object(intent))


def _fail(intent: SandboxPaymentIntent, message: str, code: str) -> None:
    intent.status = IntentStatus.REQUIRES_PAYMENT_METHOD
    intent.last_error = message
    intent.updated_at = utcnow()
    db.session.flush()
    events.emit("payment_intent.payment_failed", intent_object(intent, decline_code=code))


def return_address(link: PayLink, *, succeeded: bool) -> str:
    """``return_url`` with the parameters Stripe appends after a redirect."""
    parts = urlsplit(link.return_url)
    extra = urlencode({"payment_intent": link.intent_id,
                       "payment_intent_client_secret": link.client_secret,
                       "redirect_status": "succeeded" if succeeded else "failed"})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))
