"""Payout onboarding: the sandbox flow, the Stripe provider against a fake Stripe, and errors.

No test talks to the real Stripe: ``fake_stripe`` serves Stripe's endpoints on loopback.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from marketplace import payments
from marketplace.extensions import db
from marketplace.payments import ConnectedAccountDetails, PaymentProviderError
from marketplace.payments.models import SandboxAccount
from marketplace.payments.stripe_provider import StripeProvider
from tests.factories import make_vendor
from tests.vendors.conftest import STRIPE_TEST_KEY
from tests.vendors.factories import make_member, make_person
from tests.vendors.pages import flashes, log_in
from vendors.models import MemberRole

DETAILS = ConnectedAccountDetails(reference="vendor-7", business_name="Fjord & Field",
                                  country="NO", email="ingrid@example.com")


@pytest.fixture
def owner_and_vendor(app):
    owner = make_person("ingrid@example.com", name="Ingrid Berg")
    vendor = make_vendor("Fjord & Field", owner=owner)
    vendor.contact_email = "ingrid@example.com"
    db.session.commit()
    return owner, vendor


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- The sandbox provider (no Stripe configured) -------------------------------------------


def test_the_sandbox_completes_onboarding_offline(client, post_form, owner_and_vendor):
    owner, vendor = owner_and_vendor
    log_in(client, owner)

    connect = post_form("/vendor/payouts/connect")
    onboarding_url = connect.headers["Location"]
    sandbox_page = client.get(_path(onboarding_url))
    completed = post_form(_path(onboarding_url))
    returned = client.get(_path(completed.headers["Location"]))

    assert connect.status_code == 303
    assert onboarding_url.startswith("http://localhost/payments/sandbox/onboarding/")
    assert "Complete onboarding" in sandbox_page.get_data(as_text=True)
    assert completed.headers["Location"] == "http://localhost/vendor/payouts/return"
    assert returned.headers["Location"] == "/vendor/payouts"
    db.session.refresh(vendor)
    account = db.session.scalars(select(SandboxAccount)).one()
    assert (vendor.payout_provider, vendor.payout_account_id, vendor.payout_details_submitted,
            vendor.payouts_enabled) == ("sandbox", account.id, True, True)
    page = client.get("/vendor/payouts").get_data(as_text=True)
    assert "Payouts are enabled. You will be paid for your sales." in flashes(page)
    assert '<p id="payout-state" data-state="enabled">' in page


def test_leaving_the_sandbox_without_finishing_keeps_payouts_off(client, post_form,
                                                                 owner_and_vendor):
    owner, vendor = owner_and_vendor
    log_in(client, owner)

    post_form("/vendor/payouts/connect")
    client.get("/vendor/payouts/return")

    db.session.refresh(vendor)
    assert (vendor.payout_account_id is not None, vendor.payouts_enabled) == (True, False)
    page = client.get("/vendor/payouts").get_data(as_text=True)
    assert '<p id="payout-state" data-state="incomplete">' in page


def test_connecting_again_reuses_the_account(client, post_form, owner_and_vendor):
    owner, vendor = owner_and_vendor
    log_in(client, owner)

    first = post_form("/vendor/payouts/connect")
    second = post_form("/vendor/payouts/connect")

    assert first.status_code == second.status_code == 303
    assert len(db.session.scalars(select(SandboxAccount)).all()) == 1


def test_a_forged_sandbox_link_is_a_404_and_an_old_one_asks_for_a_new_link(
        client, post_form, owner_and_vendor, monkeypatch):
    owner, vendor = owner_and_vendor
    log_in(client, owner)
    link = _path(post_form("/vendor/payouts/connect").headers["Location"])

    forged = client.get(link[:-3] + "abc")
    monkeypatch.setattr("marketplace.payments.sandbox_views.LINK_MAX_AGE_SECONDS", -1)
    expired = client.get(link)

    assert forged.status_code == 404
    assert expired.status_code == 303
    assert expired.headers["Location"] == "http://localhost/vendor/payouts/refresh"


def test_the_sandbox_pages_are_gone_when_stripe_is_configured(app, client, post_form,
                                                              owner_and_vendor, monkeypatch):
    owner, vendor = owner_and_vendor
    log_in(client, owner)
    link = _path(post_form("/vendor/payouts/connect").headers["Location"])

    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", STRIPE_TEST_KEY)

    assert client.get(link).status_code == 404


# --- The Stripe provider, against the fake Stripe -------------------------------------------


def _stripe(fake_stripe, retries: int = 2) -> StripeProvider:
    return StripeProvider(STRIPE_TEST_KEY, api_base=fake_stripe.url, max_network_retries=retries)


def test_the_stripe_provider_opens_an_express_account_with_transfers(fake_stripe):
    account_id = _stripe(fake_stripe).create_connected_account(DETAILS)

    [request] = fake_stripe.posts("/v1/accounts")
    assert request.params == {
        "type": "express", "country": "NO", "email": "ingrid@example.com",
        "business_profile": {"name": "Fjord & Field"},
        "capabilities": {"transfers": {"requested": "true"}},
        "metadata": {"marketplace_reference": "vendor-7"},
    }
    assert request.headers["Idempotency-Key"] == DETAILS.idempotency_key()
    assert request.headers["Authorization"] == f"Bearer {STRIPE_TEST_KEY}"
    assert fake_stripe.accounts[account_id]["type"] == "express"


def test_a_lost_answer_is_retried_with_the_same_key_and_opens_one_account(fake_stripe):
    fake_stripe.fail_next("POST", "/v1/accounts", status=500, after_processing=True)

    account_id = _stripe(fake_stripe).create_connected_account(DETAILS)

    requests = fake_stripe.posts("/v1/accounts")
    assert len(requests) == 2
    assert {r.headers["Idempotency-Key"] for r in requests} == {DETAILS.idempotency_key()}
    assert list(fake_stripe.accounts) == [account_id]


def test_the_same_details_twice_give_the_same_account(fake_stripe):
    provider = _stripe(fake_stripe)

    assert provider.create_connected_account(DETAILS) == provider.create_connected_account(
        DETAILS)
    assert len(fake_stripe.accounts) == 1


def test_an_onboarding_link_and_the_account_status(fake_stripe):
    provider = _stripe(fake_stripe)
    account_id = provider.create_connected_account(DETAILS)

    url = provider.create_onboarding_link(account_id, return_url="https://m.test/return",
                                          refresh_url="https://m.test/refresh")
    before = provider.account_status(account_id)
    fake_stripe.complete_onboarding(account_id)
    after = provider.account_status(account_id)

    [link_request] = fake_stripe.posts("/v1/account_links")
    assert link_request.params == {"account": account_id, "type": "account_onboarding",
                                   "return_url": "https://m.test/return",
                                   "refresh_url": "https://m.test/refresh"}
    assert url.startswith(f"https://connect.stripe.test/setup/e/{account_id}/")
    assert (before, after) == ((False, False), (True, True))


@pytest.mark.parametrize(("status", "error_type", "message", "expected", "retryable"), [
    (400, "invalid_request_error", "Country 'NO' is not supported for this platform.",
     "Stripe refused the request: Country 'NO' is not supported for this platform.", False),
    (429, "rate_limit_error", "Too many requests.",
     "Stripe is busy right now. Please try again in a minute.", True),
    (403, "invalid_request_error", "This key does not have access to Connect.",
     "Stripe refused the marketplace's credentials. Please tell the marketplace team; "
     "nothing was changed.", False),
])
def test_stripe_errors_become_messages_for_the_seller(fake_stripe, status, error_type, message,
                                                     expected, retryable):
    fake_stripe.fail_next("POST", "/v1/accounts", status=status, error_type=error_type,
                          message=message)

    with pytest.raises(PaymentProviderError) as refused:
        _stripe(fake_stripe, retries=0).create_connected_account(DETAILS)

    assert (refused.value.message, refused.value.retryable) == (expected, retryable)
    assert fake_stripe.accounts == {}


def test_an_unknown_account_is_a_clear_error(fake_stripe):
    with pytest.raises(PaymentProviderError) as refused:
        _stripe(fake_stripe).account_status("acct_missing")

    assert refused.value.message == "Stripe refused the request: No such account: 'acct_missing'"


def test_an_unreachable_stripe_is_a_clear_retryable_error(app):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = StripeProvider(STRIPE_TEST_KEY, api_base=f"http://127.0.0.1:{port}",
                              max_network_retries=0)

    with pytest.raises(PaymentProviderError) as refused:
        provider.create_connected_account(DETAILS)

    assert refused.value.retryable is True
    assert refused.value.message.startswith("Stripe can't be reached right now.")


def test_the_provider_follows_the_configuration(app, fake_stripe):
    stripe_provider = payments.provider(app)
    app.config["STRIPE_SECRET_KEY"] = None
    sandbox_provider = payments.provider(app)
    app.config["STRIPE_SECRET_KEY"] = STRIPE_TEST_KEY

    assert (stripe_provider.name, sandbox_provider.name) == ("stripe", "sandbox")


# --- The portal with Stripe -----------------------------------------------------------------


def test_connecting_with_stripe_sends_the_owner_to_stripes_onboarding(client, post_form,
                                                                     owner_and_vendor,
                                                                     fake_stripe):
    owner, vendor = owner_and_vendor
    log_in(client, owner)

    connect = post_form("/vendor/payouts/connect")
    db.session.refresh(vendor)
    fake_stripe.complete_onboarding(vendor.payout_account_id)
    returned = client.get("/vendor/payouts/return")

    assert connect.status_code == 303
    assert connect.headers["Location"].startswith("https://connect.stripe.test/setup/e/")
    [link] = fake_stripe.posts("/v1/account_links")
    assert (link.params["return_url"], link.params["refresh_url"]) == (
        "http://localhost/vendor/payouts/return", "http://localhost/vendor/payouts/refresh")
    assert returned.status_code == 303
    db.session.refresh(vendor)
    assert (vendor.payout_provider, vendor.payouts_enabled) == ("stripe", True)


def test_a_stripe_error_is_a_message_in_the_portal_not_a_500(client, post_form,
                                                            owner_and_vendor, fake_stripe):
    owner, vendor = owner_and_vendor
    log_in(client, owner)
    fake_stripe.fail_next("POST", "/v1/accounts", status=400,
                          error_type="invalid_request_error",
                          message="You can only create new accounts if you've signed up for "
                                  "Connect.")

    answer = post_form("/vendor/payouts/connect")

    assert answer.status_code == 303 and answer.headers["Location"] == "/vendor/payouts"
    page = client.get("/vendor/payouts").get_data(as_text=True)
    assert ("Stripe refused the request: You can only create new accounts if you've signed up "
            "for Connect.") in flashes(page)
    db.session.refresh(vendor)
    assert (vendor.payout_account_id, vendor.payouts_enabled) == (None, False)


def test_when_the_link_fails_the_account_is_kept_for_the_next_try(client, post_form,
                                                                  owner_and_vendor, fake_stripe):
    owner, vendor = owner_and_vendor
    log_in(client, owner)
    fake_stripe.fail_next("POST", "/v1/account_links", status=503, times=3)

    failed = post_form("/vendor/payouts/connect")
    db.session.refresh(vendor)
    kept = vendor.payout_account_id
    retried = post_form("/vendor/payouts/connect")

    assert failed.headers["Location"] == "/vendor/payouts"
    assert kept in fake_stripe.accounts
    assert retried.headers["Location"].startswith(f"https://connect.stripe.test/setup/e/{kept}/")
    assert len(fake_stripe.posts("/v1/accounts")) == 1


def test_an_expired_stripe_link_gets_a_fresh_one(client, owner_and_vendor, fake_stripe):
    owner, vendor = owner_and_vendor
    vendor.payout_provider, vendor.payout_account_id = "stripe", None
    db.session.commit()
    account_id = _stripe(fake_stripe).create_connected_account(DETAILS)
    vendor.payout_account_id = account_id
    db.session.commit()
    log_in(client, owner)

    answer = client.get("/vendor/payouts/refresh")

    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(
        f"https://connect.stripe.test/setup/e/{account_id}/")


# --- Who may do what -----------------------------------------------------------------------


def test_managers_see_payouts_but_only_owners_change_them(client, post_form, owner_and_vendor):
    owner, vendor = owner_and_vendor
    manager = make_member(vendor, MemberRole.MANAGER)
    clerk = make_member(vendor, MemberRole.STAFF)
    db.session.commit()

    log_in(client, manager)
    manager_view = client.get("/vendor/payouts")
    manager_connect = post_form("/vendor/payouts/connect")
    manager_currency = post_form("/vendor/payouts/currency", {"payout_currency": "USD"})
    log_in(client, clerk)
    clerk_view = client.get("/vendor/payouts")
    log_in(client, owner)
    owner_currency = post_form("/vendor/payouts/currency", {"payout_currency": "USD"})

    assert manager_view.status_code == 200
    assert "Only owners can connect or change the payout account." in manager_view.get_data(
        as_text=True)
    assert (manager_connect.status_code, manager_currency.status_code) == (403, 403)
    assert "Only owners can change payout settings." in manager_connect.get_data(as_text=True)
    assert clerk_view.status_code == 403
    assert owner_currency.status_code == 303
    db.session.refresh(vendor)
    assert (vendor.payout_currency, vendor.payout_account_id) == ("USD", None)
