"""Stripe's read side for the reconciliation: PaymentIntents, Refunds, Transfers and transfer
reversals listed with the official library's list calls and auto-pagination.

Mixed into :class:`marketplace.payments.stripe_provider.StripeProvider` (which provides
``_client`` and ``_call``). Windows are half-open (``created[gte]`` / ``created[lt]``, whole
seconds, as Stripe's ``created`` is); each page asks for 100 objects, Stripe's maximum.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from marketplace.payments.records import (
    ProviderPayment,
    ProviderRefund,
    ProviderReversal,
    ProviderTransfer,
    from_timestamp,
)

PAGE_SIZE = 100


def _window(since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    # Stripe's created is whole seconds: the first second at or after since, and every
    # second before until (a fraction of a second past it counts as that second).
    return {"created": {"gte": math.ceil(since.timestamp()),
                        "lt": math.ceil(until.timestamp())},
            "limit": PAGE_SIZE}


class StripeRecordsMixin:
    _client: Any
    _call: Callable[..., Any]

    def _list_all(self, method: Callable[..., Any], *args: Any) -> list[dict[str, Any]]:
        """Every object of a list call, following ``has_more`` page by page. A failure on any
        page raises PaymentProviderError like every other call."""
        def fetch_all() -> list[dict[str, Any]]:
            return [item.to_dict() for item in method(*args).auto_paging_iter()]

        return self._call(fetch_all)

    def list_payments(self, since: dt.datetime, until: dt.datetime) -> list[ProviderPayment]:
        return [ProviderPayment(
            id=data["id"], status=data["status"], amount_minor=int(data["amount"]),
            amount_received_minor=int(data.get("amount_received") or 0),
            currency=str(data["currency"]).upper(), created=from_timestamp(data["created"]),
            latest_charge=_id_of(data.get("latest_charge")),
        ) for data in self._list_all(self._client.v1.payment_intents.list,
                                     _window(since, until))]

    def list_refunds(self, since: dt.datetime, until: dt.datetime) -> list[ProviderRefund]:
        return [ProviderRefund(
            id=data["id"], payment_intent_id=_id_of(data.get("payment_intent")),
            amount_minor=int(data["amount"]), currency=str(data["currency"]).upper(),
            status=str(data.get("status") or ""), created=from_timestamp(data["created"]),
        ) for data in self._list_all(self._client.v1.refunds.list, _window(since, until))]

    def list_transfers(self, since: dt.datetime, until: dt.datetime) -> list[ProviderTransfer]:
        return [ProviderTransfer(
            id=data["id"], amount_minor=int(data["amount"]),
            amount_reversed_minor=int(data.get("amount_reversed") or 0),
            currency=str(data["currency"]).upper(),
            destination=_id_of(data.get("destination")) or "",
            transfer_group=data.get("transfer_group"), created=from_timestamp(data["created"]),
        ) for data in self._list_all(self._client.v1.transfers.list, _window(since, until))]

    def list_transfer_reversals(self, transfer_id: str) -> list[ProviderReversal]:
        return [ProviderReversal(
            id=data["id"], transfer_id=_id_of(data.get("transfer")) or transfer_id,
            amount_minor=int(data["amount"]), currency=str(data["currency"]).upper(),
            created=from_timestamp(data["created"]),
        ) for data in self._list_all(self._client.v1.transfers.reversals.list, transfer_id,
                                     {"limit": PAGE_SIZE})]


def _id_of(value: Any) -> str | None:
    """An id, or the id of an object Stripe expanded in its place."""
    if isinstance(value, dict):
        return value.get("id")
    return value
