"""The sandbox's read side for the reconciliation: its tables listed as the provider's records.

Mixed into :class:`marketplace.payments.sandbox.SandboxProvider`. Windows are half-open,
``since <= created < until``, ordered oldest first, like Stripe's ``created[gte]`` /
``created[lt]`` filters.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from marketplace.extensions import db
from marketplace.payments.models import (
    IntentStatus,
    SandboxPaymentIntent,
    SandboxRefund,
    SandboxTransfer,
    SandboxTransferReversal,
)
from marketplace.payments.records import (
    ProviderPayment,
    ProviderRefund,
    ProviderReversal,
    ProviderTransfer,
    as_utc,
)


class SandboxRecordsMixin:
    def list_payments(self, since: dt.datetime, until: dt.datetime) -> list[ProviderPayment]:
        """Payment intents created in the window (paid or not)."""
        rows = db.session.scalars(
            sa.select(SandboxPaymentIntent)
            .where(SandboxPaymentIntent.created_at >= since,
                   SandboxPaymentIntent.created_at < until)
            .order_by(SandboxPaymentIntent.created_at, SandboxPaymentIntent.id))
        return [ProviderPayment(
            id=intent.id, status=intent.status.value, amount_minor=intent.amount_minor,
            amount_received_minor=(intent.amount_minor
                                   if intent.status == IntentStatus.SUCCEEDED else 0),
            currency=intent.currency, created=as_utc(intent.created_at),
            latest_charge=intent.charge_id) for intent in rows]

    def list_refunds(self, since: dt.datetime, until: dt.datetime) -> list[ProviderRefund]:
        """Refunds created in the window (the sandbox's always succeed)."""
        rows = db.session.execute(
            sa.select(SandboxRefund, SandboxPaymentIntent.currency)
            .join(SandboxPaymentIntent,
                  SandboxPaymentIntent.id == SandboxRefund.payment_intent_id)
            .where(SandboxRefund.created_at >= since, SandboxRefund.created_at < until)
            .order_by(SandboxRefund.created_at, SandboxRefund.id))
        return [ProviderRefund(id=refund.id, payment_intent_id=refund.payment_intent_id,
                               amount_minor=refund.amount_minor, currency=currency,
                               status="succeeded", created=as_utc(refund.created_at))
                for refund, currency in rows]

    def list_transfers(self, since: dt.datetime, until: dt.datetime) -> list[ProviderTransfer]:
        """Transfers created in the window."""
        rows = db.session.scalars(
            sa.select(SandboxTransfer)
            .where(SandboxTransfer.created_at >= since, SandboxTransfer.created_at < until)
            .order_by(SandboxTransfer.created_at, SandboxTransfer.id))
        return [ProviderTransfer(
            id=transfer.id, amount_minor=transfer.amount_minor,
            amount_reversed_minor=transfer.amount_reversed, currency=transfer.currency,
            destination=transfer.destination, transfer_group=transfer.transfer_group,
            created=as_utc(transfer.created_at)) for transfer in rows]

    def list_transfer_reversals(self, transfer_id: str) -> list[ProviderReversal]:
        """Every reversal of one transfer (none for an unknown transfer)."""
        rows = db.session.execute(
            sa.select(SandboxTransferReversal, SandboxTransfer.currency)
            .join(SandboxTransfer, SandboxTransfer.id == SandboxTransferReversal.transfer_id)
            .where(SandboxTransferReversal.transfer_id == transfer_id)
            .order_by(SandboxTransferReversal.created_at, SandboxTransferReversal.id))
        return [ProviderReversal(id=reversal.id, transfer_id=reversal.transfer_id,
                                 amount_minor=reversal.amount_minor, currency=currency,
                                 created=as_utc(reversal.created_at))
                for reversal, currency in rows]
