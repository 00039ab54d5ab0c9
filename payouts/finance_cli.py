"""``flask marketplace reconcile``: the reconciliation report on the command line."""

from __future__ import annotations

import datetime as dt

import click

from marketplace.cli import marketplace_cli
from marketplace.payments import PaymentProviderError
from payouts import reconciliation
from payouts.statement_export import InvalidPeriod, parse_month


@marketplace_cli.command("reconcile")
@click.option("--month", metavar="YYYY-MM",
              help="Reconcile one calendar month (UTC) instead of the last --days.")
@click.option("--days", type=click.IntRange(1, 3660), default=31, show_default=True,
              help="Reconcile the last N days, up to now.")
def reconcile_command(month: str | None, days: int) -> None:
    """Match the ledger's charges, refunds, transfers and transfer reversals against the
    payment provider's records, both ways, and list every mismatch. Exits with status 1 when
    there is any (or the provider can't be read), 0 when the books and the provider agree."""
    if month:
        try:
            chosen = parse_month(month)
        except InvalidPeriod as error:
            raise click.BadParameter(str(error), param_hint="--month") from None
        since, until = chosen.start, chosen.end
    else:
        until = dt.datetime.now(dt.UTC)
        since = until - dt.timedelta(days=days)
    try:
        result = reconciliation.reconcile(since, until)
    except PaymentProviderError as error:
        click.echo(f"The payment provider could not be read: {error.message}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Reconciled {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC.")
    for kind in reconciliation.Kind:
        mismatches = result.of(kind)
        click.echo(f"{'ok ' if not mismatches else 'MISMATCH'}  {kind.value}s: "
                   f"{result.checked[kind]} checked, {len(mismatches)} mismatch(es)")
        for m in mismatches:
            click.echo(f"        [{m.problem.value}] {m.reference or '-'} / "
                       f"{m.provider_id or '-'}: {m.detail}")
    if not result.ok:
        click.echo(f"{len(result.mismatches)} mismatch(es) found.")
        raise SystemExit(1)
    click.echo("The ledger and the provider agree.")
