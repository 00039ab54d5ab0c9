"""``flask marketplace sandbox-dispute``: play the buyer's bank in the offline sandbox.

``open ORDER_NUMBER [--amount MINOR] [--reason REASON]`` disputes a paid order's charge;
``close DISPUTE_ID --won|--lost`` decides it (``DISPUTE_ID`` is the number on
/admin/disputes). Both emit the provider's events, which the event jobs turn into ledger
postings, like a Stripe webhook would. With Stripe configured they refuse: there, only the
buyer's bank opens and closes disputes.
"""

from __future__ import annotations

import click
import sqlalchemy as sa

from marketplace.cli import marketplace_cli
from marketplace.extensions import db
from marketplace.payments import PaymentProviderError, provider, sandbox_disputes
from marketplace.payments.sandbox import SandboxProvider
from marketplace.payments.sandbox_disputes import REASONS
from payouts.models import Dispute
from vendors.order_models import Order


@marketplace_cli.group("sandbox-dispute")
def sandbox_dispute_cli() -> None:
    """Open and close chargebacks in the offline sandbox (for demos)."""
    if not isinstance(provider(), SandboxProvider):
        raise click.ClickException("Disputes can only be played in the sandbox; with Stripe "
                                   "the buyer's bank opens and closes them.")


@sandbox_dispute_cli.command("open")
@click.argument("order_number")
@click.option("--amount", "amount_minor", type=click.IntRange(min=1), default=None,
              help="Disputed amount in minor units (default: all of the charge not refunded).")
@click.option("--reason", type=click.Choice(sorted(REASONS)), default="fraudulent",
              show_default=True)
def open_command(order_number: str, amount_minor: int | None, reason: str) -> None:
    """Dispute the charge of the paid order ORDER_NUMBER."""
    intent_id = db.session.scalar(sa.select(Order.payment_intent_id)
                                  .where(Order.number == order_number.upper()))
    if intent_id is None:
        raise click.ClickException(f"No order {order_number} with a payment.")
    try:
        dispute = sandbox_disputes.open_dispute(intent_id, amount_minor, reason)
    except PaymentProviderError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Opened dispute {dispute['id']} for {dispute['amount']} "
               f"{dispute['currency'].upper()} (minor units); the books follow once its event "
               f"is processed.")


@sandbox_dispute_cli.command("close")
@click.argument("dispute_id", type=int)
@click.option("--won/--lost", required=True, help="The bank's decision.")
def close_command(dispute_id: int, won: bool) -> None:
    """Decide the dispute DISPUTE_ID (its number on /admin/disputes)."""
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None:
        raise click.ClickException(f"No dispute {dispute_id}.")
    try:
        sandbox_disputes.close_dispute(dispute.provider_dispute_id, won)
    except PaymentProviderError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Dispute {dispute_id} {'won' if won else 'lost'}; the books follow once its "
               f"event is processed.")
