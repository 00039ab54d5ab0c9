"""The commission preview at scale: ``python -m bench.commission_preview [--lines N]``.

Recreates the database ``marketplace_bench_commission`` (beside ``BENCH_POSTGRES_URL``),
migrates it and generates ``--lines`` captured order lines set-based, with the settlement
bench's generator (``bench.settlement``: 1,000 vendors, each sub-order with its capture in
the ledger, every order placed today). Then, in a fresh process, it runs the admin's "what
would this rule have charged" preview (``payouts.commission_admin.preview``) for a platform
default of 12% + €0.20, at least €1.00, over 365 days, and prints its wall time and the
process's peak resident memory before and after.

The preview streams the lines in batches, so its memory should not grow with the lines
(compare ``--lines 100000``). A script that prints figures, not a test: exits 0 whatever
they are, non-zero only when it could not measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import click

from bench.catalog import ROOT, BenchEnv, migrate, recreate_database
from bench.settlement import _generate, _rss_mb

DATABASE = "marketplace_bench_commission"


@click.group(invoke_without_command=True)
@click.option("--lines", default=1_000_000, show_default=True, help="Captured order lines.")
@click.pass_context
def main(ctx: click.Context, lines: int) -> None:
    if ctx.invoked_subcommand is not None:
        return
    env = BenchEnv.from_environ(database=DATABASE)
    recreate_database(env)
    migrate(env)
    generated = _generate(env, lines)
    click.echo(f"Generated {lines:,} captured order lines in {generated:.1f} s.")
    done = subprocess.run([sys.executable, "-m", "bench.commission_preview", "run-step"],
                          cwd=ROOT, env={**os.environ, **env.environ()}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise click.ClickException(f"the preview failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    click.echo(f"Preview: {result['lines']:,} lines compared in {result['seconds']:.1f} s "
               f"wall ({result['charged']} charged -> {result['proposed']} proposed); "
               f"peak RSS {result['rss_before_mb']:.0f} MB before -> "
               f"{result['rss_peak_mb']:.0f} MB after.")


@main.command("run-step", hidden=True)
def run_step() -> None:
    """(internal) The measured preview in this fresh process; prints one JSON line."""
    import sqlalchemy as sa

    from marketplace import create_app
    from marketplace.extensions import db
    from payouts.commission import Terms
    from payouts.commission_admin import Scope, preview

    app = create_app()
    with app.test_request_context():
        db.session.execute(sa.text("SELECT 1"))
        before = _rss_mb()
        started = time.perf_counter()
        result = preview(Scope(), Terms(1_200, 20, 100, "EUR"), 365)
        seconds = time.perf_counter() - started
        totals = result.by_currency.get("EUR")
        click.echo(json.dumps({
            "lines": totals.lines if totals else 0, "seconds": seconds,
            "charged": totals.actual_minor if totals else 0,
            "proposed": totals.proposed_minor if totals else 0,
            "rss_before_mb": before, "rss_peak_mb": _rss_mb()}))


if __name__ == "__main__":
    main()
