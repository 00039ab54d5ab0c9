"""Payouts fixtures: the checkout tests' small market (three shops with shipping)."""

from tests.buyers.checkout_support import market  # noqa: F401  (orders to pay and settle)
