"""Signed Stripe webhook deliveries for tests, signed by the stripe library's own code.

``signed(event, secret)`` gives the raw body and headers Stripe would POST to
``/webhooks/stripe``: the ``Stripe-Signature`` header is computed by
``stripe.WebhookSignature.generate_signature_header`` (HMAC-SHA256 of ``"<t>.<body>"``), the
very code ``stripe.Webhook.construct_event`` checks against.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import stripe

WEBHOOK_SECRET = "whsec_marketplace_suite"

_ids = itertools.count(1)


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A Stripe-shaped event around ``obj`` (a PaymentIntent, Charge... dict)."""
    return {
        "id": event_id or f"evt_test{next(_ids):08d}", "object": "event",
        "api_version": "2024-06-20", "created": int(time.time()), "livemode": False,
        "type": event_type, "data": {"object": obj}, "pending_webhooks": 1,
    }


def signature(body: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)


def signed(evt: dict[str, Any], secret: str = WEBHOOK_SECRET,
           timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    """The body and headers of a delivery of ``evt``, as Stripe sends it."""
    body = json.dumps(evt, separators=(",", ":"))
    return body, {"Stripe-Signature": signature(body, secret, timestamp),
                  "Content-Type": "application/json; charset=utf-8"}


def deliver(client: Any, evt: dict[str, Any], secret: str = WEBHOOK_SECRET,
            timestamp: int | None = None) -> Any:
    """POST ``evt`` to the app's webhook endpoint, signed; return the response."""
    body, headers = signed(evt, secret, timestamp)
    return client.post("/webhooks/stripe", data=body, headers=headers)
