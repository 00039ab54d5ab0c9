"""Buyer-side tables (addresses, carts, orders) arrive with the checkout issue."""
