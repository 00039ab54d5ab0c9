"""Provider events: stored once, processed by a job, handled by registered functions.

One path for every payment outcome, whichever provider produced it:

1. An event arrives: a Stripe webhook, verified against its raw body and signature
   (``marketplace.payments.webhooks``), or an event the sandbox emits when a buyer pays on its
   pages. :func:`record_event` stores it in ``payment_events`` (``event_id`` is unique) and
   enqueues :func:`process_event` on the ``default`` queue after the commit. A second
   delivery of a known event id stores nothing and enqueues nothing.
2. The job, in ONE transaction: locks the event row (``SELECT ... FOR UPDATE`` on
   PostgreSQL; SQLite lets one writer through at a time), returns if ``processed_at`` is set,
   calls every handler registered for the event's type, sets ``processed_at`` and commits.
   The dedup mark and the handlers' effects commit together or not at all.
3. A handler that raises rolls everything back: the event stays unprocessed, ``attempts`` and
   ``last_error`` record the failure, and the job fails (retry it from ``/admin/jobs``; it
   runs the handlers again from scratch).

Handlers
--------
``register(event_type, handler)`` with ``handler(obj, event) -> None``: ``obj`` is the event's
``data.object`` as a dict (for ``payment_intent.*`` the PaymentIntent: ``id``, ``status``,
``amount``, ``currency`` (lower case, like Stripe), ``metadata``, ``latest_charge``; for
``charge.refunded`` the Charge: ``id``, ``payment_intent``, ``amount``,
``amount_refunded`` (running total), ``refunded``, ``metadata`` (copied from the intent)),
``event`` the stored :class:`~marketplace.payments.models.PaymentEvent`. Handlers flush but
never commit, and must be idempotent per object state, because:

- **Order is not guaranteed.** Stripe does not deliver events in order, and retries arrive
  late: a ``payment_intent.payment_failed`` may be processed after the
  ``payment_intent.succeeded`` of the same intent, a ``charge.refunded`` before either.
  Ordering is the handlers' business: compare with the state you hold (e.g. never move a paid
  order back to "payment failed"; treat ``amount_refunded`` as a total, not an increment), or
  re-read the object with ``provider().retrieve_payment_intent`` when in doubt.
- ``payment_intent.payment_failed`` means one attempt failed (a decline, a failed 3-D Secure
  step): the intent goes back to ``requires_payment_method`` and the buyer may pay the same
  intent with another card, with Stripe and the sandbox alike. It is not the end of the
  payment; expiry (``cancel_payment_intent`` -> ``payment_intent.canceled``) is.
- Events of types nobody registered for are stored and marked processed (nothing to do).

Register from code every process runs while the app is built (the web processes and the
workers both build it with ``create_app``), e.g. at import of a module ``create_app``
imports, or an ``init_app``. Registering the same function twice for a type is a no-op.
The registry is code, not state: every process holds the same one.

The event types the sandbox emits: ``payment_intent.succeeded``,
``payment_intent.payment_failed``, ``payment_intent.canceled``, ``charge.refunded``, and
``charge.dispute.created`` / ``charge.dispute.closed`` (object: a Dispute with ``id``,
``amount``, ``currency``, ``charge``, ``payment_intent``, ``reason``, ``status``) when
``sandbox_disputes`` plays the buyer's bank; its event ids start with ``evt_sbx_``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.payments.models import PaymentEvent

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], PaymentEvent], None]

_handlers: dict[str, list[Handler]] = {}


def register(event_type: str, handler: Handler) -> None:
    """Call ``handler(obj, event)`` for every event of ``event_type``, in registration order."""
    registered = _handlers.setdefault(event_type, [])
    if handler not in registered:
        registered.append(handler)


def unregister(event_type: str, handler: Handler) -> None:
    """Forget a handler (tests use this to remove the ones they added)."""
    registered = _handlers.get(event_type, [])
    if handler in registered:
        registered.remove(handler)


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers.get(event_type, ()))


def job_id(event_row_id: int) -> str:
    """The stable RQ job id of an event's processing job (one waits at a time)."""
    return f"payment-event-{event_row_id}"


def record_event(event: dict[str, Any]) -> PaymentEvent | None:
    """Store a verified event and queue its processing after the caller's commit.

    ``event`` is Stripe-shaped: ``id``, ``type``, ``data.object`` (a dict). Returns the new
    row, or None when an event with this id was stored before (nothing is written then).
    Concurrent deliveries of one id insert one row: the losers wait for the winner's commit
    and then find its row. Flushes; the caller commits.
    """
    obj = event["data"]["object"]
    values = {
        "event_id": event["id"], "type": event["type"],
        "object_id": obj.get("id") if isinstance(obj.get("id"), str) else None,
        "payload": event, "received_at": utcnow(), "attempts": 0,
    }
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row_id = db.session.scalar(
        insert(PaymentEvent).values(**values)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(PaymentEvent.id)
    )
    if row_id is None:
        return None
    enqueue_after_commit("default", process_event, row_id, job_id=job_id(row_id))
    return db.session.get(PaymentEvent, row_id)


def emit(event_type: str, obj: dict[str, Any]) -> PaymentEvent:
    """Record an event this app produced itself (the sandbox provider), exactly as a verified
    webhook is recorded. Its id is ``evt_sbx_...``. Flushes; the caller commits."""
    event = {
        "id": f"evt_sbx_{secrets.token_hex(12)}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }
    row = record_event(event)
    assert row is not None  # a fresh random id
    return row


def process_event(event_row_id: int) -> bool:
    """The job: run the handlers of one stored event, once. Returns whether it ran them now.

    Idempotent: a processed (or unknown) event is skipped. A handler's exception rolls back
    every effect, records the failure on the row and is raised again, so the job fails and
    can be retried.
    """
    try:
        event = db.session.scalars(
            sa.select(PaymentEvent).where(PaymentEvent.id == event_row_id).with_for_update()
        ).one_or_none()
        if event is None or event.processed_at is not None:
            db.session.rollback()
            return False
        obj = event.payload["data"]["object"]
        for handler in handlers_for(event.type):
            handler(obj, event)
        event.processed_at = utcnow()
        event.attempts += 1
        event.last_error = None
        db.session.commit()
        return True
    except Exception as error:
        db.session.rollback()
        _record_failure(event_row_id, error)
        raise


def _record_failure(event_row_id: int, error: Exception) -> None:
    try:
        db.session.execute(
            sa.update(PaymentEvent)
            .where(PaymentEvent.id == event_row_id, PaymentEvent.processed_at.is_(None))
            .values(attempts=PaymentEvent.attempts + 1,
                    last_error=f"{type(error).__name__}: {error}"[:2000])
        )
        db.session.commit()
    except Exception:  # the job fails anyway; the original error is the one that matters
        db.session.rollback()
        log.warning("Could not record the failure of payment event %s", event_row_id,
                    exc_info=True)
    log.error("Processing payment event %s failed: %s", event_row_id, error)
