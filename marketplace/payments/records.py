"""The provider's own records of money that moved, as the reconciliation reads them.

Small frozen dataclasses, the same for Stripe and the sandbox: amounts in integer minor units,
currencies upper case, ``created`` an aware UTC datetime. The provider methods that return
them (``list_payments``, ``list_refunds``, ``list_transfers``, ``list_transfer_reversals``)
are read-only: they never create, change or emit anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderPayment:
    """A PaymentIntent: ``amount_received_minor`` is what was captured (0 until paid)."""

    id: str
    status: str
    amount_minor: int
    amount_received_minor: int
    currency: str
    created: dt.datetime
    latest_charge: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    payment_intent_id: str | None
    amount_minor: int
    currency: str
    status: str
    created: dt.datetime


@dataclass(frozen=True)
class ProviderTransfer:
    id: str
    amount_minor: int
    amount_reversed_minor: int
    currency: str
    destination: str
    transfer_group: str | None
    created: dt.datetime


@dataclass(frozen=True)
class ProviderReversal:
    id: str
    transfer_id: str
    amount_minor: int
    currency: str
    created: dt.datetime


def from_timestamp(seconds: int | float) -> dt.datetime:
    """Stripe's ``created`` (Unix seconds) as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; naive ones (SQLite gives those back) are taken as UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
