"""The sandbox provider's payments: intents, refunds, transfers and reversals, like Stripe's
test mode, with idempotency keys and Stripe's refusals, all in the database."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.payments import ConnectedAccountDetails, PaymentIntentInfo, PaymentProviderError
from marketplace.payments.models import (
    PaymentEvent,
    SandboxPaymentIntent,
    SandboxRefund,
    SandboxTransfer,
    SandboxTransferReversal,
)
from marketplace.payments.sandbox import SandboxProvider, complete_onboarding
from marketplace.payments.sandbox_checkout import CARD_SUCCEEDS, pay_with_card

sandbox = SandboxProvider()


def _intent(key: str = "order-1-intent", amount: int = 4_250, currency: str = "EUR",
            **metadata: str) -> PaymentIntentInfo:
    return sandbox.create_payment_intent(
        amount_minor=amount, currency=currency, transfer_group="order-1",
        idempotency_key=key, metadata=metadata or {"order_id": "1"},
    )


def _paid_intent(amount: int = 4_250) -> PaymentIntentInfo:
    info = _intent(amount=amount)
    pay_with_card(db.session.get(SandboxPaymentIntent, info.id), CARD_SUCCEEDS)
    db.session.commit()
    return sandbox.retrieve_payment_intent(info.id)


def _onboarded_account(reference: str = "vendor-1") -> str:
    account_id = sandbox.create_connected_account(ConnectedAccountDetails(
        reference=reference, business_name="Fjord & Field", country="NO"))
    complete_onboarding(account_id)
    return account_id


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _event_types() -> list[str]:
    return list(db.session.scalars(select(PaymentEvent.type).order_by(PaymentEvent.id)))


# --- payment intents ----------------------------------------------------------------------


def test_an_intent_is_created_waiting_for_a_card(app):
    info = _intent(order_id="17")
    db.session.commit()

    assert info.id.startswith("pi_sbx_")
    assert info.client_secret.startswith(f"{info.id}_secret_")
    assert (info.status, info.amount_minor, info.currency, info.latest_charge,
            info.metadata) == ("requires_payment_method", 4_250, "EUR", None, {"order_id": "17"})
    row = db.session.get(SandboxPaymentIntent, info.id)
    assert (row.transfer_group, row.amount_refunded) == ("order-1", 0)
    assert sandbox.retrieve_payment_intent(info.id) == info


def test_the_same_key_twice_gives_one_intent(app):
    first = _intent(key="order-1-intent")
    second = _intent(key="order-1-intent")
    db.session.commit()

    assert first == second
    assert _count(SandboxPaymentIntent) == 1


def test_the_same_key_with_other_parameters_is_refused(app):
    _intent(key="order-1-intent", amount=4_250)

    with pytest.raises(PaymentProviderError) as refused:
        _intent(key="order-1-intent", amount=9_999)

    assert refused.value.code == "idempotency_error"
    assert refused.value.message == (
        "The sandbox refused the request: Keys for idempotent requests can only be used with "
        "the same parameters they were first used with.")
    assert _count(SandboxPaymentIntent) == 1


@pytest.mark.parametrize("amount, currency, message", [
    (0, "EUR", "The amount must be at least one minor unit."),
    (-5, "EUR", "The amount must be at least one minor unit."),
    (12.5, "EUR", "An amount in whole minor units and a known currency are required."),
    (100, "XXQ", "An amount in whole minor units and a known currency are required."),
])
def test_a_bad_amount_or_currency_is_refused_and_leaves_nothing(app, amount, currency,
                                                                message):
    with pytest.raises(PaymentProviderError) as refused:
        _intent(amount=amount, currency=currency)

    assert refused.value.message == f"The sandbox refused the request: {message}"
    db.session.commit()
    assert _count(SandboxPaymentIntent) == 0
    # the key was not spent: the corrected request goes through with it
    assert _intent(amount=100).amount_minor == 100


def test_an_unknown_intent_is_a_clear_error(app):
    with pytest.raises(PaymentProviderError) as refused:
        sandbox.retrieve_payment_intent("pi_sbx_missing")

    assert (refused.value.code, refused.value.message) == (
        "resource_missing",
        "The sandbox refused the request: No such payment_intent: 'pi_sbx_missing'")


def test_cancelling_an_unpaid_intent_emits_an_event_and_a_second_cancel_is_refused(app):
    info = _intent()

    canceled = sandbox.cancel_payment_intent(info.id)
    with pytest.raises(PaymentProviderError) as refused:
        sandbox.cancel_payment_intent(info.id)
    db.session.commit()

    assert canceled.status == "canceled"
    assert refused.value.code == "payment_intent_unexpected_state"
    assert refused.value.message == ("The sandbox refused the request: You cannot cancel this "
                                     "PaymentIntent because it has a status of canceled.")
    assert _event_types() == ["payment_intent.canceled"]


def test_a_paid_intent_cannot_be_cancelled(app):
    info = _paid_intent()

    with pytest.raises(PaymentProviderError) as refused:
        sandbox.cancel_payment_intent(info.id)

    assert refused.value.code == "payment_intent_unexpected_state"
    assert sandbox.retrieve_payment_intent(info.id).status == "succeeded"


# --- refunds ------------------------------------------------------------------------------


def test_refunds_count_against_the_charge_and_emit_charge_refunded_totals(app):
    info = _paid_intent(amount=1_000)

    first = sandbox.create_refund(payment_intent_id=info.id, amount_minor=300,
                                  idempotency_key="refund-1", metadata={"sub_order": "4"})
    again = sandbox.create_refund(payment_intent_id=info.id, amount_minor=300,
                                  idempotency_key="refund-1", metadata={"sub_order": "4"})
    rest = sandbox.create_refund(payment_intent_id=info.id, amount_minor=700,
                                 idempotency_key="refund-2", metadata={})
    db.session.commit()

    assert first == again and first.startswith("re_sbx_") and rest != first
    assert _count(SandboxRefund) == 2
    assert db.session.get(SandboxPaymentIntent, info.id).amount_refunded == 1_000
    refunded = db.session.scalars(
        select(PaymentEvent).where(PaymentEvent.type == "charge.refunded")
        .order_by(PaymentEvent.id)).all()
    charges = [event.payload["data"]["object"] for event in refunded]
    assert [(c["id"], c["payment_intent"], c["amount_refunded"], c["refunded"], c["metadata"])
            for c in charges] == [
        (info.latest_charge, info.id, 300, False, {"order_id": "1"}),
        (info.latest_charge, info.id, 1_000, True, {"order_id": "1"}),
    ]


def test_refunding_more_than_is_left_is_refused(app):
    info = _paid_intent(amount=1_000)
    sandbox.create_refund(payment_intent_id=info.id, amount_minor=600,
                          idempotency_key="refund-1", metadata={})

    with pytest.raises(PaymentProviderError) as refused:
        sandbox.create_refund(payment_intent_id=info.id, amount_minor=401,
                              idempotency_key="refund-2", metadata={})

    assert refused.value.code == "amount_too_large"
    assert refused.value.message == ("The sandbox refused the request: The amount (€4.01) is "
                                     "greater than what is left (€4.00).")
    assert db.session.get(SandboxPaymentIntent, info.id).amount_refunded == 600


def test_an_unpaid_intent_has_nothing_to_refund(app):
    info = _intent()

    with pytest.raises(PaymentProviderError) as refused:
        sandbox.create_refund(payment_intent_id=info.id, amount_minor=1,
                              idempotency_key="refund-1", metadata={})

    assert refused.value.code == "charge_not_refundable"
    assert _count(SandboxRefund) == 0


# --- transfers and reversals --------------------------------------------------------------


def _transfer(destination: str, charge: str | None, amount: int, key: str) -> str:
    return sandbox.create_transfer(
        amount_minor=amount, currency="EUR", destination=destination, transfer_group="order-1",
        source_transaction=charge, idempotency_key=key, metadata={"sub_order": "4"},
    )


def test_a_transfer_from_a_charge_is_idempotent_and_bounded_by_the_charge(app):
    info = _paid_intent(amount=1_000)
    account = _onboarded_account()

    first = _transfer(account, info.latest_charge, 600, "transfer-1")
    again = _transfer(account, info.latest_charge, 600, "transfer-1")
    with pytest.raises(PaymentProviderError) as too_much:
        _transfer(account, info.latest_charge, 401, "transfer-2")
    db.session.commit()

    assert first == again and first.startswith("tr_sbx_")
    row = db.session.get(SandboxTransfer, first)
    assert (row.amount_minor, row.currency, row.destination, row.transfer_group,
            row.source_transaction, row.meta) == (600, "EUR", account, "order-1",
                                                  info.latest_charge, {"sub_order": "4"})
    assert too_much.value.code == "amount_too_large"
    assert _count(SandboxTransfer) == 1


def test_a_transfer_needs_an_onboarded_destination_and_a_paid_charge(app):
    info = _paid_intent()
    pending = sandbox.create_connected_account(ConnectedAccountDetails(
        reference="vendor-2", business_name="Pending Ltd", country="DE"))
    account = _onboarded_account()

    with pytest.raises(PaymentProviderError) as unknown:
        _transfer("acct_sandbox_nobody", None, 100, "t-1")
    with pytest.raises(PaymentProviderError) as not_ready:
        _transfer(pending, None, 100, "t-2")
    with pytest.raises(PaymentProviderError) as no_charge:
        _transfer(account, "ch_sbx_missing", 100, "t-3")

    assert unknown.value.message == ("The sandbox refused the request: No such destination: "
                                     "'acct_sandbox_nobody'")
    assert not_ready.value.message == (
        f"The sandbox refused the request: The destination account {pending} has not finished "
        "onboarding and cannot receive transfers yet.")
    assert no_charge.value.code == "resource_missing"
    assert info.latest_charge.startswith("ch_sbx_")
    assert _count(SandboxTransfer) == 0


def test_reversals_take_back_at_most_what_was_transferred(app):
    account = _onboarded_account()
    transfer = _transfer(account, None, 500, "transfer-1")

    first = sandbox.reverse_transfer(transfer_id=transfer, amount_minor=200,
                                     idempotency_key="reversal-1")
    again = sandbox.reverse_transfer(transfer_id=transfer, amount_minor=200,
                                     idempotency_key="reversal-1")
    with pytest.raises(PaymentProviderError) as too_much:
        sandbox.reverse_transfer(transfer_id=transfer, amount_minor=301,
                                 idempotency_key="reversal-2")
    rest = sandbox.reverse_transfer(transfer_id=transfer, amount_minor=300,
                                    idempotency_key="reversal-3")
    db.session.commit()

    assert first == again and first.startswith("trr_sbx_") and rest != first
    assert too_much.value.code == "amount_too_large"
    assert _count(SandboxTransferReversal) == 2
    assert db.session.get(SandboxTransfer, transfer).amount_reversed == 500


def test_an_idempotency_key_is_one_request_across_kinds(app):
    account = _onboarded_account()
    _transfer(account, None, 500, "shared-key")

    with pytest.raises(PaymentProviderError) as refused:
        sandbox.reverse_transfer(transfer_id="tr_sbx_x", amount_minor=1,
                                 idempotency_key="shared-key")

    assert refused.value.code == "idempotency_error"


@pytest.mark.postgres_only
def test_ten_requests_at_once_with_one_key_make_one_intent(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    start = threading.Barrier(10)
    ids: list[str] = []

    def create():
        with app.app_context():
            start.wait()
            ids.append(_intent(key="order-1-intent").id)
            db.session.commit()

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ids) == 10 and len(set(ids)) == 1
    assert _count(SandboxPaymentIntent) == 1
