"""POST /webhooks/stripe: only verified events are stored, each event id once, and its
handlers run once, in the same transaction as the mark that says so."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from marketplace import jobs
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import OutboxJob, User
from marketplace.payments import events
from marketplace.payments.models import PaymentEvent
from tests.factories import make_user
from tests.fakes.stripe_webhooks import WEBHOOK_SECRET, deliver, event, signature, signed

INTENT = {"id": "pi_3Nx", "object": "payment_intent", "status": "succeeded", "amount": 4_250,
          "currency": "eur", "metadata": {"order_id": "7"}}


@pytest.fixture(autouse=True)
def webhook_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)


@pytest.fixture
def handled(app):
    """A test handler for payment_intent.succeeded that records (event id, intent id)."""
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler(obj, evt):
        with lock:
            calls.append((evt.event_id, obj["id"]))

    events.register("payment_intent.succeeded", handler)
    yield calls
    events.unregister("payment_intent.succeeded", handler)


def _rows() -> list[PaymentEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentEvent).order_by(PaymentEvent.id)))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_verified_event_is_stored_and_its_handler_runs_in_a_job(app, client, handled):
    evt = event("payment_intent.succeeded", INTENT, event_id="evt_1")

    answer = deliver(client, evt)
    before_job = _rows()[0].processed_at
    ran = run_queued_jobs()

    assert (answer.status_code, answer.get_json()) == (200, {"received": True})
    assert before_job is None
    assert ran == 1
    assert handled == [("evt_1", "pi_3Nx")]
    [row] = _rows()
    assert (row.event_id, row.type, row.object_id, row.payload, row.attempts) == (
        "evt_1", "payment_intent.succeeded", "pi_3Nx", evt, 1)
    assert row.processed_at is not None


def _forged(evt):
    body, headers = signed(evt, secret="whsec_someone_else")
    return body, headers


def _tampered(evt):
    body, headers = signed(evt)
    return body.replace('"amount":4250', '"amount":1'), headers


def _stale(evt):
    return signed(evt, timestamp=int(time.time()) - 301)


def _missing_header(evt):
    body, headers = signed(evt)
    del headers["Stripe-Signature"]
    return body, headers


def _garbage_header(evt):
    body, headers = signed(evt)
    headers["Stripe-Signature"] = "v1=deadbeef"
    return body, headers


@pytest.mark.parametrize("make", [_forged, _tampered, _stale, _missing_header,
                                  _garbage_header])
def test_an_unverified_delivery_is_a_400_and_changes_nothing(app, client, handled, make):
    body, headers = make(event("payment_intent.succeeded", INTENT, event_id="evt_1"))

    answer = client.post("/webhooks/stripe", data=body, headers=headers)
    run_queued_jobs()

    assert answer.status_code == 400
    assert answer.get_json() == {"error": {
        "status": 400, "message": "The webhook signature is missing, invalid or too old."}}
    assert _count(PaymentEvent) == 0 and _count(OutboxJob) == 0
    assert handled == []


def test_a_delivery_signed_just_inside_the_tolerance_is_accepted(app, client):
    body, headers = signed(event("payment_intent.succeeded", INTENT),
                           timestamp=int(time.time()) - 290)

    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200


def test_without_a_configured_secret_nothing_is_accepted(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)

    answer = deliver(client, event("payment_intent.succeeded", INTENT))

    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == (
        "Stripe webhooks are not configured on this marketplace.")
    assert _count(PaymentEvent) == 0


def test_a_signed_body_that_is_not_an_event_is_a_400_naming_the_field(app, client):
    body = json.dumps({"id": "evt_1", "data": {"object": {"id": "pi_1"}}})
    headers = {"Stripe-Signature": signature(body), "Content-Type": "application/json"}

    answer = client.post("/webhooks/stripe", data=body, headers=headers)

    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"] == {"type": ["Missing data for required field."]}
    assert _count(PaymentEvent) == 0


def test_the_endpoint_needs_no_csrf_token_and_no_session(app, client):
    # the suite's client sends no CSRF token unless asked; the signature is the credential
    answer = deliver(client, event("charge.refunded", {"id": "ch_1", "object": "charge"}))

    assert answer.status_code == 200


def test_a_delivery_repeated_ten_times_is_stored_and_handled_once(app, client, handled):
    evt = event("payment_intent.succeeded", INTENT, event_id="evt_1")

    answers = [deliver(client, evt) for _ in range(10)]
    run_queued_jobs()
    again = deliver(client, evt)
    run_queued_jobs()

    assert [a.status_code for a in answers] == [200] * 10
    assert answers[0].get_json() == {"received": True}
    assert {json.dumps(a.get_json()) for a in answers[1:]} == {
        '{"duplicate": true, "received": true}'}
    assert again.get_json() == {"duplicate": True, "received": True}
    assert _count(PaymentEvent) == 1 and _count(OutboxJob) == 1
    assert handled == [("evt_1", "pi_3Nx")]


@pytest.mark.postgres_only
def test_ten_deliveries_at_once_store_one_event_and_ten_jobs_at_once_handle_it_once(
        app, handled):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    evt = event("payment_intent.succeeded", INTENT, event_id="evt_1")
    start = threading.Barrier(10)
    statuses: list[int] = []

    def deliver_once():
        with app.app_context():
            client = app.test_client()
            start.wait()
            statuses.append(deliver(client, evt).status_code)

    threads = [threading.Thread(target=deliver_once) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [row] = _rows()

    def process_once():
        with app.app_context():
            start.wait()
            events.process_event(row.id)

    threads = [threading.Thread(target=process_once) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_queued_jobs()

    assert statuses == [200] * 10
    assert _count(PaymentEvent) == 1 and _count(OutboxJob) == 1
    assert handled == [("evt_1", "pi_3Nx")]
    assert _rows()[0].processed_at is not None


def test_a_failing_handler_rolls_its_effects_back_and_the_job_can_be_retried(app, client):
    broken = {"yes": True}

    def create_user(obj, evt):
        make_user(f"{obj['id'].lower()}@example.com")

    def explode(obj, evt):
        if broken["yes"]:
            raise RuntimeError("the order service is down")

    events.register("payment_intent.succeeded", create_user)
    events.register("payment_intent.succeeded", explode)
    try:
        deliver(client, event("payment_intent.succeeded", INTENT, event_id="evt_1"))
        run_queued_jobs()
        [failed_row] = _rows()
        failed_jobs = [job.id for job in jobs.failed_jobs()]
        users_after_failure = _count(User)

        broken["yes"] = False
        retried = jobs.retry_failed_job(events.job_id(failed_row.id))
        run_queued_jobs()
    finally:
        events.unregister("payment_intent.succeeded", create_user)
        events.unregister("payment_intent.succeeded", explode)

    assert (failed_row.processed_at, failed_row.attempts, failed_row.last_error) == (
        None, 1, "RuntimeError: the order service is down")
    assert failed_jobs == [events.job_id(failed_row.id)]
    assert users_after_failure == 0
    assert retried is True
    [row] = _rows()
    assert (row.processed_at is not None, row.attempts, row.last_error) == (True, 2, None)
    assert db.session.scalars(select(User.email)).all() == ["pi_3nx@example.com"]


def test_an_event_nobody_handles_is_stored_and_marked_processed(app, client):
    deliver(client, event("customer.created", {"id": "cus_1", "object": "customer"}))
    run_queued_jobs()

    [row] = _rows()
    assert (row.type, row.object_id, row.processed_at is not None) == (
        "customer.created", "cus_1", True)


def test_processing_a_processed_event_again_does_nothing(app, client, handled):
    deliver(client, event("payment_intent.succeeded", INTENT, event_id="evt_1"))
    run_queued_jobs()
    [row] = _rows()

    assert events.process_event(row.id) is False
    assert handled == [("evt_1", "pi_3Nx")]


def test_registering_a_handler_twice_calls_it_once(app, client, handled):
    [handler] = events.handlers_for("payment_intent.succeeded")[-1:]
    events.register("payment_intent.succeeded", handler)

    deliver(client, event("payment_intent.succeeded", INTENT, event_id="evt_1"))
    run_queued_jobs()

    assert handled == [("evt_1", "pi_3Nx")]
