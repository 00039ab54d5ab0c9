"""The Stripe provider's payments against the fake Stripe: separate charges and transfers,
idempotency keys, Stripe's refusals as messages, and Stripe's events through the webhook."""

from __future__ import annotations

import re
import threading

import pytest
import stripe
from flask import render_template

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.payments import (
    ConnectedAccountDetails,
    PaymentIntentInfo,
    PaymentProviderError,
    events,
    provider,
)
from marketplace.payments.stripe_provider import StripeProvider
from tests.fakes.stripe_payments import PM_DECLINED
from tests.fakes.stripe_server import STRIPE_TEST_KEY, FakeStripe, stripe_configured
from tests.fakes.stripe_webhooks import WEBHOOK_SECRET, deliver


@pytest.fixture
def fake_stripe(app):
    with stripe_configured(app, webhook_secret=WEBHOOK_SECRET) as fake:
        yield fake


@pytest.fixture
def stripe_provider(app, fake_stripe) -> StripeProvider:
    chosen = provider()
    assert isinstance(chosen, StripeProvider)
    return chosen


def _intent(stripe_provider, key: str = "order-7-intent", amount: int = 4_250
            ) -> PaymentIntentInfo:
    return stripe_provider.create_payment_intent(
        amount_minor=amount, currency="EUR", transfer_group="order-7",
        idempotency_key=key, metadata={"order_id": "7"})


def _onboarded_account(stripe_provider, fake_stripe: FakeStripe) -> str:
    account = stripe_provider.create_connected_account(ConnectedAccountDetails(
        reference="vendor-1", business_name="Fjord & Field", country="NO"))
    fake_stripe.complete_onboarding(account)
    return account


# --- payment intents ----------------------------------------------------------------------


def test_an_intent_is_one_card_payment_for_the_order_with_its_transfer_group(
        stripe_provider, fake_stripe):
    info = _intent(stripe_provider)

    [request] = fake_stripe.posts("/v1/payment_intents")
    assert request.params == {"amount": "4250", "currency": "eur", "transfer_group": "order-7",
                              "payment_method_types": ["card"],
                              "metadata": {"order_id": "7"}}
    assert request.headers["Idempotency-Key"] == "order-7-intent"
    assert (info.status, info.amount_minor, info.currency, info.metadata) == (
        "requires_payment_method", 4_250, "EUR", {"order_id": "7"})
    assert info.client_secret == f"{info.id}_secret_fake"
    # separate charges and transfers: nothing routes the money to a seller at charge time
    assert "transfer_data" not in request.params and "on_behalf_of" not in request.params


def test_the_same_key_twice_gives_one_intent_and_other_parameters_are_refused(
        stripe_provider, fake_stripe):
    first = _intent(stripe_provider)
    second = _intent(stripe_provider)
    with pytest.raises(PaymentProviderError) as refused:
        _intent(stripe_provider, amount=1)

    assert first == second
    assert len(fake_stripe.payment_intents) == 1
    assert refused.value.code == "idempotency_error"
    assert refused.value.message == (
        "Stripe refused the request: Keys for idempotent requests can only be used with the "
        "same parameters they were first used with.")


def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_intent(stripe_provider,
                                                                         fake_stripe):
    fake_stripe.fail_next("POST", "/v1/payment_intents", status=500, after_processing=True)

    info = _intent(stripe_provider)

    assert len(fake_stripe.posts("/v1/payment_intents")) == 2
    assert list(fake_stripe.payment_intents) == [info.id]


def test_a_paid_intent_has_a_charge_and_a_declined_one_says_why(stripe_provider, fake_stripe):
    paid = _intent(stripe_provider, key="a")
    declined = _intent(stripe_provider, key="b")

    fake_stripe.pay(paid.id)
    fake_stripe.pay(declined.id, PM_DECLINED)

    after_pay = stripe_provider.retrieve_payment_intent(paid.id)
    after_decline = stripe_provider.retrieve_payment_intent(declined.id)
    assert (after_pay.status, after_pay.latest_charge) == (
        "succeeded", fake_stripe.payment_intents[paid.id]["latest_charge"])
    assert after_pay.latest_charge.startswith("ch_fake")
    assert (after_decline.status, after_decline.latest_charge, after_decline.last_error) == (
        "requires_payment_method", None, "Your card was declined.")


def test_cancelling_an_unpaid_intent_and_refusing_to_cancel_a_paid_one(stripe_provider,
                                                                       fake_stripe):
    unpaid = _intent(stripe_provider, key="a")
    paid = _intent(stripe_provider, key="b")
    fake_stripe.pay(paid.id)

    canceled = stripe_provider.cancel_payment_intent(unpaid.id)
    with pytest.raises(PaymentProviderError) as refused:
        stripe_provider.cancel_payment_intent(paid.id)

    assert canceled.status == "canceled"
    assert refused.value.code == "payment_intent_unexpected_state"
    assert refused.value.message.startswith(
        "Stripe refused the request: You cannot cancel this PaymentIntent because it has a "
        "status of succeeded.")


def test_an_unknown_intent_is_a_clear_error(stripe_provider):
    with pytest.raises(PaymentProviderError) as refused:
        stripe_provider.retrieve_payment_intent("pi_missing")

    assert (refused.value.code, refused.value.message) == (
        "resource_missing", "Stripe refused the request: No such payment_intent: 'pi_missing'")


# --- refunds, transfers, reversals --------------------------------------------------------


def test_refunds_are_idempotent_and_bounded_by_the_charge(stripe_provider, fake_stripe):
    info = _intent(stripe_provider, amount=1_000)
    fake_stripe.pay(info.id)

    first = stripe_provider.create_refund(payment_intent_id=info.id, amount_minor=300,
                                          idempotency_key="refund-1", metadata={"sub": "4"})
    again = stripe_provider.create_refund(payment_intent_id=info.id, amount_minor=300,
                                          idempotency_key="refund-1", metadata={"sub": "4"})
    with pytest.raises(PaymentProviderError) as too_much:
        stripe_provider.create_refund(payment_intent_id=info.id, amount_minor=701,
                                      idempotency_key="refund-2", metadata={})

    assert first == again and list(fake_stripe.refunds) == [first]
    assert fake_stripe.refunds[first]["metadata"] == {"sub": "4"}
    assert too_much.value.message == ("Stripe refused the request: Refund amount (701) is "
                                      "greater than unrefunded amount on charge (700)")
    charge = fake_stripe.charges[fake_stripe.payment_intents[info.id]["latest_charge"]]
    assert (charge["amount_refunded"], charge["refunded"]) == (300, False)


def test_a_transfer_from_the_charge_and_its_reversal(stripe_provider, fake_stripe):
    info = _intent(stripe_provider, amount=1_000)
    fake_stripe.pay(info.id)
    charge = stripe_provider.retrieve_payment_intent(info.id).latest_charge
    account = _onboarded_account(stripe_provider, fake_stripe)

    transfer = stripe_provider.create_transfer(
        amount_minor=850, currency="EUR", destination=account, transfer_group="order-7",
        source_transaction=charge, idempotency_key="transfer-1", metadata={"sub": "4"})
    same = stripe_provider.create_transfer(
        amount_minor=850, currency="EUR", destination=account, transfer_group="order-7",
        source_transaction=charge, idempotency_key="transfer-1", metadata={"sub": "4"})
    reversal = stripe_provider.reverse_transfer(transfer_id=transfer, amount_minor=200,
                                                idempotency_key="reversal-1")
    with pytest.raises(PaymentProviderError) as too_much:
        stripe_provider.reverse_transfer(transfer_id=transfer, amount_minor=651,
                                         idempotency_key="reversal-2")

    assert transfer == same and list(fake_stripe.transfers) == [transfer]
    [request] = fake_stripe.posts("/v1/transfers")[:1]
    assert request.params == {"amount": "850", "currency": "eur", "destination": account,
                              "transfer_group": "order-7", "source_transaction": charge,
                              "metadata": {"sub": "4"}}
    assert reversal.startswith("trr_fake")
    assert fake_stripe.transfers[transfer]["amount_reversed"] == 200
    assert too_much.value.message == ("Stripe refused the request: Transfer reversal amount "
                                      "(651) is greater than the amount left on the transfer "
                                      "(650).")


def test_a_transfer_beyond_the_charge_or_to_an_account_not_onboarded_is_refused(
        stripe_provider, fake_stripe):
    info = _intent(stripe_provider, amount=1_000)
    fake_stripe.pay(info.id)
    charge = stripe_provider.retrieve_payment_intent(info.id).latest_charge
    pending = stripe_provider.create_connected_account(ConnectedAccountDetails(
        reference="vendor-2", business_name="Pending Ltd", country="DE"))
    account = _onboarded_account(stripe_provider, fake_stripe)

    def transfer(destination: str, amount: int, key: str) -> str:
        return stripe_provider.create_transfer(
            amount_minor=amount, currency="EUR", destination=destination,
            transfer_group="order-7", source_transaction=charge, idempotency_key=key,
            metadata={})

    with pytest.raises(PaymentProviderError) as beyond:
        transfer(account, 1_001, "t-1")
    with pytest.raises(PaymentProviderError) as not_ready:
        transfer(pending, 100, "t-2")

    assert beyond.value.code == "insufficient_funds"
    assert not_ready.value.message == (
        "Stripe refused the request: Your destination account needs to have at least one of "
        "the following capabilities enabled: transfers, crypto_transfers, legacy_payments")
    assert fake_stripe.transfers == {}


# --- Stripe's events, end to end ----------------------------------------------------------


def test_stripes_events_for_a_payment_reach_the_handlers_through_the_webhook(
        app, client, stripe_provider, fake_stripe):
    seen: list[tuple[str, str, str]] = []

    def handler(obj, event):
        seen.append((event.type, obj["id"], obj["metadata"]["order_id"]))

    for event_type in ("payment_intent.payment_failed", "payment_intent.succeeded",
                       "charge.refunded"):
        events.register(event_type, handler)
    try:
        info = _intent(stripe_provider)
        fake_stripe.pay(info.id, PM_DECLINED)
        fake_stripe.pay(info.id)
        stripe_provider.create_refund(payment_intent_id=info.id, amount_minor=4_250,
                                      idempotency_key="refund-1", metadata={})
        answers = [deliver(client, event).status_code for event in fake_stripe.events]
        run_queued_jobs()
    finally:
        for event_type in ("payment_intent.payment_failed", "payment_intent.succeeded",
                           "charge.refunded"):
            events.unregister(event_type, handler)

    charge = fake_stripe.payment_intents[info.id]["latest_charge"]
    assert answers == [200, 200, 200]
    assert seen == [("payment_intent.payment_failed", info.id, "7"),
                    ("payment_intent.succeeded", info.id, "7"),
                    ("charge.refunded", charge, "7")]


def test_the_pay_section_mounts_stripes_payment_element(app, stripe_provider):
    info = _intent(stripe_provider)
    with app.test_request_context("/checkout/pay"):
        section = render_template(stripe_provider.pay_template, intent=info,
                                  return_url="http://localhost/checkout/return",
                                  order_reference="M-0007")

    assert '<script src="https://js.stripe.com/v3/"></script>' in section
    assert 'data-publishable-key="pk_test_marketplace_suite"' in section
    assert f'data-client-secret="{info.client_secret}"' in section
    assert 'data-return-url="http://localhost/checkout/return"' in section
    assert 'src="/payments/static/payments/stripe_pay.js"' in section
    assert "Amount to pay: €42.50" in section
    # card details never come to this server: no card field, no form posting here
    assert not re.search(r'name="card|action=', section)


def test_the_payment_script_is_served(client, stripe_provider):
    script = client.get("/payments/static/payments/stripe_pay.js")

    assert script.status_code == 200
    assert b"stripe.confirmPayment" in script.data


def test_the_provider_follows_the_configuration(app, fake_stripe):
    assert provider().name == "stripe"
    assert app.config["STRIPE_SECRET_KEY"] == STRIPE_TEST_KEY
    app.config["STRIPE_SECRET_KEY"] = None
    try:
        assert provider().name == "sandbox"
        assert provider().pay_template == "payments/sandbox_pay.html"
    finally:
        app.config["STRIPE_SECRET_KEY"] = STRIPE_TEST_KEY
    db.session.rollback()


def test_ten_requests_at_once_with_one_key_make_one_stripe_intent(stripe_provider,
                                                                 fake_stripe):
    start = threading.Barrier(10)
    ids: list[str] = []

    def create():
        start.wait()
        ids.append(_intent(stripe_provider).id)

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ids) == 10 and len(set(ids)) == 1
    assert list(fake_stripe.payment_intents) == ids[:1]


def test_the_fake_confirms_captures_and_declines_like_stripe(fake_stripe):
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": fake_stripe.url},
                                 max_network_retries=0)
    manual = client.v1.payment_intents.create({
        "amount": 1_000, "currency": "eur", "capture_method": "manual", "confirm": True,
        "payment_method": "pm_card_visa", "transfer_group": "order-9"})
    captured = client.v1.payment_intents.capture(manual.id)
    other = client.v1.payment_intents.create({"amount": 500, "currency": "eur"})
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(other.id, {"payment_method": PM_DECLINED})

    assert (manual.status, manual.amount_capturable) == ("requires_capture", 1_000)
    assert (captured.status, captured.amount_received) == ("succeeded", 1_000)
    assert (declined.value.code, declined.value.http_status, declined.value.user_message) == (
        "card_declined", 402, "Your card was declined.")
    assert [e["type"] for e in fake_stripe.events] == [
        "payment_intent.amount_capturable_updated", "payment_intent.succeeded",
        "payment_intent.payment_failed"]
