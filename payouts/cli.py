"""``flask marketplace payouts``: resolve stuck payouts, then create the ones that are due."""

from __future__ import annotations

import click

from marketplace.cli import marketplace_cli
from payouts.payouts import create_due_payouts, reconcile_stuck_payouts


@marketplace_cli.command("payouts")
def payouts_command() -> None:
    """Pay vendors out on their schedules.

    First asks the payment provider about payouts a crashed worker left in "processing"
    (longer than PAYOUT_RECONCILE_MINUTES) and completes or resends them with their own
    idempotency key; then creates a payout per vendor and currency whose schedule is due and
    whose available balance reaches their minimum, and queues the transfers (queue
    ``settlement``). Safe to run twice or on two machines at once; run it from cron, e.g.
    every hour.
    """
    resolved = reconcile_stuck_payouts()
    run = create_due_payouts()
    click.echo(f"Resolved {len(resolved)} stuck payout(s): "
               f"{sum(1 for v in resolved.values() if v == 'paid')} paid, "
               f"{sum(1 for v in resolved.values() if v == 'retry')} queued again.")
    click.echo(f"Created {len(run.created)} payout(s); held {len(run.held)} vendor(s).")
    for vendor_id, reason in sorted(run.held.items()):
        click.echo(f"  vendor {vendor_id}: held ({reason})")
