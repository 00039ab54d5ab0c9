"""Vendor-portal fixtures: a fake Stripe server, and the app pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.fakes.stripe_server import FakeStripe, FakeStripeServer

STRIPE_TEST_KEY = "sk_test_marketplace_suite"


@pytest.fixture
def fake_stripe(app: Flask) -> Iterator[FakeStripe]:
    """A fake Stripe on a loopback port, and the app's payment provider pointed at it.

    Retries are on (as in production), with the library's short backoff; no test talks to
    the real Stripe.
    """
    saved = {key: app.config.get(key) for key in
             ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_MAX_NETWORK_RETRIES")}
    with FakeStripeServer() as stripe:
        app.config.update(STRIPE_SECRET_KEY=STRIPE_TEST_KEY, STRIPE_API_BASE=stripe.url,
                          STRIPE_MAX_NETWORK_RETRIES=2)
        try:
            yield stripe
        finally:
            app.config.update(saved)


@pytest.fixture(autouse=True)
def _request_context(request) -> Iterator[None]:
    """Services translate their messages for the visitor, so tests that call them directly
    run inside a request context, as views do (requests made with the test client run in
    contexts of their own)."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.test_request_context():
        yield
