"""Paying on the sandbox's pages with Stripe's test cards: success, decline and retry, the
3-D Secure step, and the outcome events going through the same pipeline as webhooks."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import render_template
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.payments import PaymentIntentInfo, events, provider
from marketplace.payments.models import PaymentEvent
from tests.conftest import csrf_token
from tests.fakes.stripe_server import STRIPE_TEST_KEY
from tests.vendors.pages import field_error

RETURN_URL = "http://localhost/checkout/orders/7/return?step=pay"


@pytest.fixture
def intent(app) -> PaymentIntentInfo:
    info = provider().create_payment_intent(
        amount_minor=4_250, currency="EUR", transfer_group="order-7",
        idempotency_key="order-7-intent", metadata={"order_id": "7"})
    db.session.commit()
    return info


@pytest.fixture
def outcomes(app):
    """What the checkout's handlers would see: (event type, intent id, status) per event."""
    seen: list[tuple[str, str, str]] = []

    def handler(obj, event):
        seen.append((event.type, obj["id"], obj["status"]))

    types = ("payment_intent.succeeded", "payment_intent.payment_failed")
    for event_type in types:
        events.register(event_type, handler)
    yield seen
    for event_type in types:
        events.unregister(event_type, handler)


def _pay_section(app, intent: PaymentIntentInfo) -> str:
    """The pay template as the checkout's pay page includes it."""
    with app.test_request_context("/checkout/pay"):
        return render_template(provider().pay_template, intent=intent, return_url=RETURN_URL,
                               order_reference="M-0007")


def _token(section: str) -> str:
    return html.unescape(re.search(r'name="token" value="([^"]+)"', section).group(1))


def _pay(app, post_form, intent: PaymentIntentInfo, card: str):
    return post_form("/payments/sandbox/pay",
                     {"token": _token(_pay_section(app, intent)), "card_number": card})


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def _stored_events() -> list[tuple[str, str]]:
    return [(e.type, e.object_id) for e in
            db.session.scalars(select(PaymentEvent).order_by(PaymentEvent.id))]


def test_the_pay_section_shows_the_amount_the_test_cards_and_a_form(app, intent):
    section = _pay_section(app, intent)

    assert 'data-provider="sandbox"' in section
    assert "Order M-0007" in section
    assert "Amount to pay: €42.50" in section
    assert 'action="/payments/sandbox/pay"' in section
    assert "<code>4242 4242 4242 4242</code>: the payment succeeds" in section
    assert "<code>4000 0000 0000 0002</code>: the card is declined" in section
    assert "<code>4000 0025 0000 3155</code>: asks for 3-D Secure authentication first" in section


def test_the_success_card_pays_and_returns_like_stripe(app, client, post_form, intent,
                                                      outcomes):
    answer = _pay(app, post_form, intent, "4242 4242 4242 4242")
    ran = run_queued_jobs()

    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(RETURN_URL + "&")
    assert _query(answer.headers["Location"]) == {
        "step": ["pay"], "payment_intent": [intent.id],
        "payment_intent_client_secret": [intent.client_secret],
        "redirect_status": ["succeeded"]}
    paid = provider().retrieve_payment_intent(intent.id)
    assert (paid.status, paid.latest_charge) == ("succeeded", "ch_sbx_" + intent.id[7:])
    assert ran == 1
    assert outcomes == [("payment_intent.succeeded", intent.id, "succeeded")]
    [event] = db.session.scalars(select(PaymentEvent)).all()
    assert event.event_id.startswith("evt_sbx_")
    assert event.processed_at is not None
    assert event.payload["data"]["object"]["metadata"] == {"order_id": "7"}
    assert event.payload["data"]["object"]["amount"] == 4_250


def test_a_declined_card_says_so_and_the_buyer_tries_another(app, client, post_form, intent,
                                                            outcomes):
    declined = _pay(app, post_form, intent, "4000000000000002")
    page = declined.get_data(as_text=True)
    after_decline = provider().retrieve_payment_intent(intent.id)
    retried = post_form("/payments/sandbox/pay",
                        {"token": _token(page), "card_number": "4242424242424242"})
    run_queued_jobs()

    assert declined.status_code == 402
    assert '<p class="flash flash-error form-error" id="payment-error" role="alert">Your card ' \
           "was declined.</p>" in page
    assert 'id="sandbox-pay-form"' in page
    assert (after_decline.status, after_decline.last_error) == ("requires_payment_method",
                                                               "Your card was declined.")
    assert retried.status_code == 303
    assert _query(retried.headers["Location"])["redirect_status"] == ["succeeded"]
    assert outcomes == [("payment_intent.payment_failed", intent.id, "requires_payment_method"),
                        ("payment_intent.succeeded", intent.id, "succeeded")]


def test_the_3d_secure_card_asks_for_authentication_then_pays(app, client, post_form, intent,
                                                             outcomes):
    answer = _pay(app, post_form, intent, "4000 0025 0000 3155")
    confirm_page = client.get(answer.headers["Location"]).get_data(as_text=True)
    waiting = provider().retrieve_payment_intent(intent.id)
    approved = post_form(answer.headers["Location"], {"approve": "Complete authentication"})
    run_queued_jobs()

    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/payments/sandbox/authenticate/")
    assert "Authenticate your payment" in confirm_page
    assert "€42.50" in confirm_page
    assert waiting.status == "requires_action"
    assert outcomes == [("payment_intent.succeeded", intent.id, "succeeded")]
    assert _query(approved.headers["Location"])["redirect_status"] == ["succeeded"]


def test_failing_3d_secure_declines_and_returns_with_failed(app, client, post_form, intent,
                                                           outcomes):
    answer = _pay(app, post_form, intent, "4000002500003155")
    failed = post_form(answer.headers["Location"], {"fail": "Fail authentication"})
    run_queued_jobs()

    assert _query(failed.headers["Location"])["redirect_status"] == ["failed"]
    after = provider().retrieve_payment_intent(intent.id)
    assert (after.status, after.last_error) == (
        "requires_payment_method",
        "We are unable to authenticate your payment method. Please choose a different payment "
        "method and try again.")
    assert outcomes == [("payment_intent.payment_failed", intent.id, "requires_payment_method")]


def test_another_card_number_is_a_form_error_and_no_attempt(app, client, post_form, intent):
    answer = _pay(app, post_form, intent, "5555 5555 5555 4444")

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "card_number") == (
        'Use one of the sandbox\'s test card numbers (see "Test cards").')
    assert provider().retrieve_payment_intent(intent.id).status == "requires_payment_method"
    assert _stored_events() == []


def test_paying_twice_charges_once(app, client, post_form, intent, outcomes):
    token = _token(_pay_section(app, intent))

    first = post_form("/payments/sandbox/pay", {"token": token, "card_number": "4242424242424242"})
    second = post_form("/payments/sandbox/pay", {"token": token, "card_number": "4242424242424242"})
    run_queued_jobs()

    assert first.status_code == second.status_code == 303
    assert _query(second.headers["Location"])["redirect_status"] == ["succeeded"]
    assert _stored_events() == [("payment_intent.succeeded", intent.id)]
    assert len(outcomes) == 1


def test_a_canceled_intent_cannot_be_paid(app, client, post_form, intent):
    token = _token(_pay_section(app, intent))
    provider().cancel_payment_intent(intent.id)
    db.session.commit()

    answer = post_form("/payments/sandbox/pay", {"token": token, "card_number": "4242424242424242"})

    assert answer.status_code == 409
    assert "This payment was canceled and can no longer be paid." in answer.get_data(as_text=True)
    assert provider().retrieve_payment_intent(intent.id).status == "canceled"


def test_a_forged_token_is_a_404_and_the_pages_are_gone_with_stripe(app, client, post_form,
                                                                    intent, monkeypatch):
    token = _token(_pay_section(app, intent))

    forged = post_form("/payments/sandbox/pay",
                       {"token": token[:-4] + "AAAA", "card_number": "4242424242424242"})
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", STRIPE_TEST_KEY)
    with_stripe = post_form("/payments/sandbox/pay",
                            {"token": token, "card_number": "4242424242424242"})
    authenticate = client.get(f"/payments/sandbox/authenticate/{token}")

    assert (forged.status_code, with_stripe.status_code, authenticate.status_code) == (
        404, 404, 404)
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    assert provider().retrieve_payment_intent(intent.id).status == "requires_payment_method"


def test_a_post_without_the_csrf_token_is_refused(app, client, intent):
    csrf_token(client)  # the buyer's session holds a token, as on the checkout's pages
    answer = client.post("/payments/sandbox/pay",
                         data={"token": _token(_pay_section(app, intent)),
                               "card_number": "4242424242424242"})

    assert answer.status_code == 400
    assert provider().retrieve_payment_intent(intent.id).status == "requires_payment_method"
