"""``flask marketplace refunds``: finish refunds and transfer reversals a crash left behind."""

from __future__ import annotations

import click

from marketplace.cli import marketplace_cli
from payouts.clawback import REPLAY_WINDOW, reconcile_stuck_reversals
from payouts.refunds import reconcile_stuck_refunds


@marketplace_cli.command("refunds")
def refunds_command() -> None:
    """Retry refunds and transfer reversals left in "processing" (a worker crashed, or the
    provider did not answer) for longer than PAYOUT_RECONCILE_MINUTES.

    Each is asked of the provider again with its own idempotency key, so one that went
    through comes back as it was and is never made twice. Safe to run twice or on two
    machines at once; run it from cron, e.g. every 15 minutes. Ones stuck for more than 20
    hours are not retried (the provider may have forgotten their keys): they are listed on
    stderr and logged as errors, for a person to check at the provider.
    """
    refunds = reconcile_stuck_refunds()
    reversals = reconcile_stuck_reversals()
    for label, outcome in (("refund", refunds), ("transfer reversal", reversals)):
        counts = {state: sum(1 for v in outcome.values() if v == state)
                  for state in ("succeeded", "failed", "unknown", "held")}
        click.echo(f"Retried {len(outcome) - counts['held']} stuck {label}(s): "
                   f"{counts['succeeded']} succeeded, {counts['failed']} failed, "
                   f"{counts['unknown']} still unanswered.")
        if counts["held"]:
            click.echo(f"{counts['held']} {label}(s) stuck for more than "
                       f"{REPLAY_WINDOW.total_seconds() / 3600:.0f} hours were not retried (the "
                       "provider may have forgotten their idempotency keys): check them at the "
                       "provider and finish them by hand.", err=True)
