"""Chargebacks in the offline sandbox: a buyer disputes a payment, the platform wins or loses.

Stripe opens a dispute on its own (the buyer's bank asks) and later closes it; the sandbox
plays that part with two calls, which the demo and the tests use (``/admin/disputes`` has the
buttons to close one while the sandbox is the provider)::

    dispute = open_dispute(order.payment_intent_id)            # charge.dispute.created
    close_dispute(dispute["id"], won=False)                   # charge.dispute.closed (lost)

Both emit the events in Stripe's shape through :func:`marketplace.payments.events.emit`, so
they travel the same path as a Stripe webhook: stored once, handled by a job after the
caller's commit. Like the rest of the sandbox, they flush and never commit.

Stripe allows one dispute per charge, and so does the sandbox: the dispute's id is derived
from the charge's, and the events the sandbox emitted are its record of the dispute (there is
no table of its own). The intent's row is locked while a dispute opens or closes, so two
clicks at once open or close it once. A charge with a dispute not won can't be refunded
(``SandboxProvider.create_refund`` refuses with code ``charge_disputed``, as Stripe does).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from marketplace.extensions import db
from marketplace.payments import events
from marketplace.payments.models import IntentStatus, PaymentEvent, SandboxPaymentIntent
from marketplace.payments.sandbox import _checked_amount, _intent, _refused, dispute_id_for

CREATED = "charge.dispute.created"
CLOSED = "charge.dispute.closed"
#: Stripe's reasons a cardholder gives (the dispute object's ``reason``).
REASONS = frozenset({
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
    "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
    "insufficient_funds", "product_not_received", "product_unacceptable",
    "subscription_canceled", "unrecognized",
})


def open_dispute(payment_intent_id: str, amount_minor: int | None = None,
                 reason: str = "fraudulent") -> dict[str, Any]:
    """The buyer's bank disputes the intent's charge: emit ``charge.dispute.created`` (status
    ``needs_response``: the disputed amount has left the platform's balance) and return the
    dispute object. ``amount_minor`` defaults to what is left of the charge after refunds.

    Raises PaymentProviderError when the intent has no successful charge, the amount is not
    within what is left, the reason is not one of Stripe's, or the charge is disputed already
    (code ``charge_disputed``). Flushes; the caller commits.
    """
    intent = _intent(payment_intent_id, lock=True)
    if intent.status != IntentStatus.SUCCEEDED or intent.charge_id is None:
        raise _refused(_("This PaymentIntent (%(id)s) does not have a successful charge to "
                         "dispute.", id=intent.id), code="charge_not_disputable")
    if reason not in REASONS:
        raise _refused(_("%(reason)s is not a dispute reason Stripe knows.", reason=reason))
    left = intent.amount_minor - intent.amount_refunded
    amount = left if amount_minor is None else amount_minor
    _checked_amount(amount, left, intent.currency)
    dispute_id = dispute_id_for(intent.charge_id)
    if _events_of(dispute_id, CREATED):
        raise _refused(_("The charge %(id)s has already been disputed.", id=intent.charge_id),
                       code="charge_disputed")
    dispute = _dispute_object(dispute_id, intent, amount, reason, "needs_response")
    events.emit(CREATED, dispute)
    return dispute


def close_dispute(dispute_id: str, won: bool) -> dict[str, Any]:
    """The bank decides: emit ``charge.dispute.closed`` with status ``won`` (the amount comes
    back to the platform) or ``lost`` (the buyer keeps it) and return the dispute object.

    Raises PaymentProviderError for a dispute the sandbox did not open (code
    ``resource_missing``) or one closed already (code ``dispute_already_closed``).
    Flushes; the caller commits.
    """
    opened = _events_of(dispute_id, CREATED)
    if not opened:
        raise _refused(_("No such dispute: '%(id)s'", id=dispute_id), code="resource_missing")
    created = opened[0].payload["data"]["object"]
    # The intent's lock serialises the closing clicks of one dispute.
    intent = _intent(created["payment_intent"], lock=True)
    if _events_of(dispute_id, CLOSED):
        raise _refused(_("The dispute %(id)s is closed already.", id=dispute_id),
                       code="dispute_already_closed")
    dispute = _dispute_object(dispute_id, intent, int(created["amount"]), created["reason"],
                              "won" if won else "lost", created=int(created["created"]))
    events.emit(CLOSED, dispute)
    return dispute


def _events_of(dispute_id: str, event_type: str) -> list[PaymentEvent]:
    return list(db.session.scalars(
        sa.select(PaymentEvent)
        .where(PaymentEvent.object_id == dispute_id, PaymentEvent.type == event_type,
               PaymentEvent.event_id.like("evt_sbx_%"))
        .order_by(PaymentEvent.id)))


def _dispute_object(dispute_id: str, intent: SandboxPaymentIntent, amount_minor: int,
                    reason: str, status: str, *, created: int | None = None) -> dict[str, Any]:
    """A Stripe Dispute dict (amount in minor units, currency lower case)."""
    return {
        "id": dispute_id, "object": "dispute", "amount": amount_minor,
        "currency": intent.currency.lower(), "charge": intent.charge_id,
        "payment_intent": intent.id, "reason": reason, "status": status,
        "created": created or int(time.time()),
        "is_charge_refundable": False, "livemode": False, "metadata": {},
    }
