"""``flask marketplace payouts``: resolve stuck payouts, then create the ones that are due; and
``flask marketplace scheduler``, which queues settlement and payouts on their intervals."""

from __future__ import annotations

import contextlib

import click

from marketplace.cli import marketplace_cli
from payouts import schedule
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


@marketplace_cli.command("scheduler")
@click.option("--once", is_flag=True, help="Queue what is due now, then exit.")
def scheduler_command(once: bool) -> None:
    """Queue the settlement job every SETTLEMENT_EVERY_SECONDS and the payout run (what
    `flask marketplace payouts` does) every PAYOUTS_EVERY_SECONDS, on the ``settlement`` queue.

    Run one per machine, or several: each run is queued once per interval across all
    schedulers sharing REDIS_URL (payouts/schedule.py). With REDIS_URL unset the jobs run in
    this process.
    """
    intervals = {task.name: task.interval() for task in schedule.TASKS}
    if not any(intervals.values()):
        raise click.UsageError("Nothing to schedule: SETTLEMENT_EVERY_SECONDS and "
                               "PAYOUTS_EVERY_SECONDS are both 0.")
    if once:
        queued = schedule.tick()
        click.echo(f"Queued: {', '.join(queued) or 'nothing (already queued this interval)'}.")
        return
    click.echo("Scheduling " + ", ".join(f"{name} every {every} s" if every else f"{name} off"
                                         for name, every in intervals.items()) + ".")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it quietly
        schedule.run_scheduler(
            on_queued=lambda names: click.echo(f"Queued: {', '.join(names)}."))
