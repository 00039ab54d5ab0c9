"""``flask marketplace refunds``: finish refunds and transfer reversals a crash left behind."""

from __future__ import annotations

import re

import click

from marketplace.cli import marketplace_cli
from payouts import clawback, refunds
from payouts.clawback import REPLAY_WINDOW, reconcile_stuck_reversals
from payouts.refunds import reconcile_stuck_refunds

_ITEM = re.compile(r"(refund|reversal):([0-9]{1,18})")
_FOUND = re.compile(r"(refund|reversal):([0-9]{1,18})=([A-Za-z0-9_]{1,255})")


def _items(pattern: re.Pattern[str], example: str):
    def convert(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
        parsed = []
        for value in values:
            match = pattern.fullmatch(value.strip())
            if match is None:
                raise click.BadParameter(f"{value!r}: write it as {example}.")
            parsed.append((match.group(1), int(match.group(2)), *match.groups()[2:]))
        return parsed
    return convert


@marketplace_cli.command("refunds")
@click.option("--resend", "resend", multiple=True, metavar="KIND:ID",
              callback=_items(_ITEM, "refund:12 or reversal:3"),
              help="A held refund or reversal the provider has no record of: send it again "
                   "(e.g. refund:12). Repeatable.")
@click.option("--found", "found", multiple=True, metavar="KIND:ID=PROVIDER_ID",
              callback=_items(_FOUND, "refund:12=re_123 or reversal:3=trr_456"),
              help="A held refund or reversal the provider did make: record it under the "
                   "provider's id and post it (e.g. refund:12=re_123). Repeatable.")
def refunds_command(resend: list[tuple], found: list[tuple]) -> None:
    """Retry refunds and transfer reversals left in "processing" (a worker crashed, or the
    provider did not answer) for longer than PAYOUT_RECONCILE_MINUTES.

    Each is asked of the provider again with its own idempotency key, so one that went
    through comes back as it was and is never made twice. Safe to run twice or on two
    machines at once; run it from cron, e.g. every 15 minutes. Ones stuck for more than 20
    hours are not retried (the provider may have forgotten their keys): they are listed on
    stderr and logged as errors. Look each up at the provider, then finish it with --resend
    (it is not there) or --found (it is).
    """
    if resend or found:
        _finish_held(resend, found)
        return
    refunds_done = reconcile_stuck_refunds()
    reversals = reconcile_stuck_reversals()
    for label, outcome in (("refund", refunds_done), ("transfer reversal", reversals)):
        counts = {state: sum(1 for v in outcome.values() if v == state)
                  for state in ("succeeded", "failed", "unknown", "held")}
        click.echo(f"Retried {len(outcome) - counts['held']} stuck {label}(s): "
                   f"{counts['succeeded']} succeeded, {counts['failed']} failed, "
                   f"{counts['unknown']} still unanswered.")
        if counts["held"]:
            held = ", ".join(f"{label.split()[-1]}:{item_id}"
                             for item_id, state in outcome.items() if state == "held")
            click.echo(f"{counts['held']} {label}(s) stuck for more than "
                       f"{REPLAY_WINDOW.total_seconds() / 3600:.0f} hours were not retried (the "
                       f"provider may have forgotten their idempotency keys): {held}. Look "
                       "each up at the provider, then run this command with --resend or "
                       "--found.", err=True)


def _finish_held(resend: list[tuple], found: list[tuple]) -> None:
    failed = False
    actions = [(kind, item_id, None) for kind, item_id in resend]
    actions += [(kind, item_id, provider_id) for kind, item_id, provider_id in found]
    for kind, item_id, provider_id in actions:
        try:
            if kind == "refund":
                outcome = (refunds.resend_held(item_id) if provider_id is None
                           else refunds.record_found(item_id, provider_id))
            else:
                outcome = (clawback.resend_held_reversal(item_id) if provider_id is None
                           else clawback.record_found_reversal(item_id, provider_id))
        except refunds.RefundError as error:
            failed = True
            click.echo(f"{kind}:{item_id}: {error.message}", err=True)
            continue
        except (LookupError, ValueError) as error:
            failed = True
            click.echo(f"{kind}:{item_id}: {error}", err=True)
            continue
        click.echo(f"{kind}:{item_id}: {outcome}")
    if failed:
        raise click.exceptions.Exit(1)
