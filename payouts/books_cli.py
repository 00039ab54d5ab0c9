"""``flask marketplace settle`` and ``flask marketplace check-books``."""

from __future__ import annotations

import click

from marketplace.cli import marketplace_cli
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from payouts.books import check_books
from payouts.settlement import JOB_ID, QUEUE, settle_due


@marketplace_cli.command("settle")
@click.option("--enqueue", is_flag=True,
              help="Queue the job on the settlement queue for a worker instead of running it.")
def settle_command(enqueue: bool) -> None:
    """Move vendors' earnings from pending to available once SETTLEMENT_HOLD_DAYS have
    passed since the payment. Safe to run twice or on two machines at once; cron it, e.g.
    hourly."""
    if enqueue:
        enqueue_after_commit(QUEUE, settle_due, job_id=JOB_ID)
        db.session.commit()
        click.echo("Settlement queued.")
        return
    run = settle_due()
    click.echo(f"Settled {run.settled} sub-order(s) in {run.batches} batch(es).")


@marketplace_cli.command("check-books")
def check_books_command() -> None:
    """Check the ledger's invariants; exits with status 1 when any is broken."""
    checks = check_books()
    for check in checks:
        click.echo(f"{'ok ' if check.ok else 'BROKEN'}  {check.name}"
                   + ("" if check.ok else f": {check.breaks}"))
        for example in check.examples:
            click.echo(f"        {example}")
    broken = [check for check in checks if not check.ok]
    if broken:
        click.echo(f"{len(broken)} of {len(checks)} checks broken.")
        raise SystemExit(1)
    click.echo(f"All {len(checks)} checks passed.")
