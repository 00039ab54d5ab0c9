"""``flask marketplace refunds``: finish refunds and transfer reversals a crash left behind."""

from __future__ import annotations

import click

from marketplace.cli import marketplace_cli
from payouts.clawback import reconcile_stuck_reversals
from payouts.refunds import reconcile_stuck_refunds


@marketplace_cli.command("refunds")
def refunds_command() -> None:
    """Retry refunds and transfer reversals left in "processing" (a worker crashed, or the
    provider did not answer) for longer than PAYOUT_RECONCILE_MINUTES.

    Each is asked of the provider again with its own idempotency key, so one that went
    through comes back as it was and is never made twice. Safe to run twice or on two
    machines at once; run it from cron, e.g. every 15 minutes.
    """
    refunds = reconcile_stuck_refunds()
    reversals = reconcile_stuck_reversals()
    for label, outcome in (("refund", refunds), ("transfer reversal", reversals)):
        counts = {state: sum(1 for v in outcome.values() if v == state)
                  for state in ("succeeded", "failed", "unknown")}
        click.echo(f"Retried {len(outcome)} stuck {label}(s): {counts['succeeded']} succeeded, "
                   f"{counts['failed']} failed, {counts['unknown']} still unanswered.")
