"""Ledger and payout tables arrive with the payouts issue."""
