"""Helpers for the ledger's tests: a real checkout, paid through a provider event."""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import aliased

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import User
from marketplace.payments import events
from payouts.models import LedgerAccount, LedgerPosting, LedgerTransaction
from tests.buyers.checkout_support import ADDRESS, api_headers, log_in
from vendors.models import Variant
from vendors.order_models import Order

_events = itertools.count(1)


def checkout(client: FlaskClient, user: User, *lines: tuple[Variant, int],
             address: dict | None = None) -> Order:
    """An order placed through the checkout API (awaiting payment)."""
    db.session.commit()
    log_in(client, user)
    headers = api_headers(client)
    for variant, quantity in lines:
        response = client.post("/api/v1/cart/lines",
                               json={"variant_id": variant.id, "quantity": quantity},
                               headers=headers)
        assert response.status_code in (200, 201), response.get_json()
    response = client.post("/api/v1/checkout", json={"address": address or ADDRESS},
                           headers={**headers, "Idempotency-Key": f"key-{next(_events)}"})
    assert response.status_code == 201, response.get_json()
    return db.session.get(Order, response.get_json()["id"])


def pay(order: Order) -> None:
    """Deliver ``payment_intent.succeeded`` for the order and run the queued jobs."""
    intent = {"id": order.payment_intent_id, "object": "payment_intent", "status": "succeeded",
              "amount": order.total_minor, "currency": order.currency.lower(),
              "metadata": {"order_id": str(order.id)}}
    events.record_event({"id": f"evt_test_{next(_events)}", "type": "payment_intent.succeeded",
                         "data": {"object": intent}})
    db.session.commit()
    run_queued_jobs()
    db.session.expire_all()


def postings_of(key: str) -> list[tuple[str, str, int, str]]:
    """A transaction's postings as (debited kind, credited kind, amount, currency), sorted."""
    debit = aliased(LedgerAccount)
    credit = aliased(LedgerAccount)
    rows = db.session.execute(
        sa.select(debit.kind, credit.kind, LedgerPosting.amount_minor, LedgerPosting.currency)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .join(debit, debit.id == LedgerPosting.debit_account_id)
        .join(credit, credit.id == LedgerPosting.credit_account_id)
        .where(LedgerTransaction.idempotency_key == key)).all()
    return sorted((d.value, c.value, amount, currency) for d, c, amount, currency in rows)
