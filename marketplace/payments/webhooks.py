"""``POST /webhooks/stripe``: Stripe's events, verified, stored once, handed to a job.

The signature is checked by the stripe library (``stripe.Webhook.construct_event``) against
the RAW request body, the ``Stripe-Signature`` header and ``STRIPE_WEBHOOK_SECRET``, with a
tolerance of :data:`WEBHOOK_TOLERANCE_SECONDS` on the signed timestamp (an old delivery
replayed by someone else is refused). Anything that fails answers 400 JSON and writes nothing.

A verified event is stored by :func:`marketplace.payments.events.record_event`; the answer is
200 as soon as it is committed (Stripe only needs to know it arrived; the work happens in a
job, so a slow handler never makes Stripe retry). A known event id answers 200 too, and does
nothing. No session, no login and no CSRF token: the signature is the credential.
"""

from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import gettext as _
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from marketplace.config import STRIPE_WEBHOOK_TOLERANCE_SECONDS
from marketplace.extensions import csrf, db
from marketplace.payments import events

log = logging.getLogger(__name__)

#: Seconds a signed webhook stays acceptable after Stripe signed it (Stripe's own default).
WEBHOOK_TOLERANCE_SECONDS = STRIPE_WEBHOOK_TOLERANCE_SECONDS
#: Stripe's events are a few kilobytes; anything much larger is not one.
MAX_BODY_BYTES = 512 * 1024

# Also serves the payment pages' static files (the Stripe Payment Element's script).
bp = Blueprint("payments", __name__, static_folder="static",
               static_url_path="/payments/static")
# Only the webhook lives here; its signature is its credential.
csrf.exempt(bp)


class _EventObjectSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(validate=validate.Length(max=255))


class _EventDataSchema(Schema):
    class Meta:
        unknown = INCLUDE

    object = fields.Nested(_EventObjectSchema, required=True)


class StripeEventSchema(Schema):
    """The parts of an event this app relies on; the rest is kept as it came."""

    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    data = fields.Nested(_EventDataSchema, required=True)


_event_schema = StripeEventSchema()


def _refused(message: str, status: int = 400, fields_: dict | None = None) -> Response:
    body: dict = {"error": {"status": status, "message": message}}
    if fields_:
        body["error"]["fields"] = fields_
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/webhooks/stripe")
def stripe_webhook() -> Response:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _refused(_("The webhook body is too large."), 413)
    payload = request.get_data(cache=False, as_text=False, parse_form_data=False)
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        log.warning("A Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set")
        return _refused(_("Stripe webhooks are not configured on this marketplace."))
    try:
        stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature"),
                                       secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
        # The library has checked the signature; our own parse keeps plain dicts.
        event = json.loads(payload)
    except stripe.SignatureVerificationError as error:
        log.warning("A Stripe webhook failed verification: %s", error.user_message or error)
        return _refused(_("The webhook signature is missing, invalid or too old."))
    except ValueError:
        return _refused(_("The webhook body is not a JSON event."))
    try:
        _event_schema.load(event if isinstance(event, dict) else {})
    except ValidationError as error:
        return _refused(_("The webhook event is missing required fields."),
                        fields_=error.normalized_messages())
    stored = events.record_event(event)
    db.session.commit()
    if stored is None:
        return jsonify({"received": True, "duplicate": True})
    return jsonify({"received": True})
