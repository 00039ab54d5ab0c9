"""The payout run at scale: ``python -m bench.payout_run`` (or ``make bench-payout-run``).

Recreates the database ``marketplace_bench_payout_run`` (beside ``BENCH_POSTGRES_URL``),
migrates it and generates, set-based in SQL (``generate_series``, nothing goes through
Python), ``--vendors`` approved vendors on a daily payout schedule, each with a sandbox payout
account that can receive transfers and an available balance (a captured sale released by
settlement: two ledger transactions per vendor, €100.01 to €110.00).

Then, in a fresh process, the payout job as the scheduler runs it: ``create_due_payouts`` (one
payout per vendor, its ``payout_sent`` posting, its send job pushed to Redis at
``BENCH_REDIS_URL``), then every ``send_payout`` job through the sandbox gateway, either

- in that same process (``--workers 0``, the default: an RQ burst worker in-process, what
  ``flask marketplace worker --burst`` runs), or
- by ``--workers N`` separate ``flask marketplace worker --burst --queues settlement``
  processes started together.

Prints the wall time of each step and the peak resident memory (``getrusage``) of the process
that ran it (with workers: the largest worker's), then checks the outcome: every payout paid,
one sandbox transfer each, nothing left available. A script that prints figures, not a test:
exits 0 whatever they are, non-zero only when it could not measure.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import click
import psycopg

from bench.catalog import ROOT, BenchEnv, migrate, recreate_database

DATABASE = "marketplace_bench_payout_run"

# Ledger accounts: 1 is the platform's cash; vendor v has pending 1 + v and available 1 + N + v.
# Transactions: vendor v's capture is v, its settlement N + v.
GENERATE = """
INSERT INTO vendors (name, slug, status, country, default_currency, description,
                     payout_provider, payout_account_id, payout_details_submitted,
                     payouts_enabled, payout_schedule, payout_minimum_minor)
SELECT 'Vendor ' || v, 'vendor-' || v, 'approved', 'DE', 'EUR', '', 'sandbox',
       'acct_bench_' || v, true, true, 'daily', 0
FROM generate_series(1, {vendors}) AS v;

INSERT INTO payment_sandbox_accounts (id, reference, business_name, country,
                                      details_submitted, payouts_enabled, created_at)
SELECT 'acct_bench_' || v, 'vendor-' || v, 'Vendor ' || v, 'DE', true, true, now()
FROM generate_series(1, {vendors}) AS v;

INSERT INTO ledger_accounts (id, owner, vendor_id, kind, currency, created_at) VALUES
  (1, 'platform', NULL, 'provider_cash', 'EUR', now());
INSERT INTO ledger_accounts (id, owner, vendor_id, kind, currency, created_at)
SELECT 1 + v, 'vendor-' || v, v, 'vendor_pending', 'EUR', now()
FROM generate_series(1, {vendors}) AS v
UNION ALL
SELECT 1 + {vendors} + v, 'vendor-' || v, v, 'vendor_available', 'EUR', now()
FROM generate_series(1, {vendors}) AS v;

INSERT INTO ledger_transactions (id, kind, idempotency_key, vendor_id, memo, created_at)
SELECT v, 'payment_captured', 'bench-capture:' || v, v, '', now()
FROM generate_series(1, {vendors}) AS v
UNION ALL
SELECT {vendors} + v, 'settlement_release', 'bench-settle:' || v, v, '', now()
FROM generate_series(1, {vendors}) AS v;

INSERT INTO ledger_postings (transaction_id, debit_account_id, credit_account_id,
                             amount_minor, currency)
SELECT v, 1, 1 + v, 10000 + v % 1000 + 1, 'EUR'
FROM generate_series(1, {vendors}) AS v
UNION ALL
SELECT {vendors} + v, 1 + v, 1 + {vendors} + v, 10000 + v % 1000 + 1, 'EUR'
FROM generate_series(1, {vendors}) AS v;
"""

SEQUENCES = ("vendors", "ledger_accounts", "ledger_transactions", "ledger_postings")


def _generate(env: BenchEnv, vendors: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(env.database_url) as conn:
        conn.execute(GENERATE.format(vendors=vendors))
        for table in SEQUENCES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def _step(env: BenchEnv, step: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.payout_run", "run-step", step],
                          cwd=ROOT, env={**os.environ, **env.environ()}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _workers(env: BenchEnv, count: int) -> dict:
    """``count`` burst workers on the settlement queue, started together; their wall time and
    the largest one's peak RSS."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "marketplace", "worker",
               "--burst", "--queues", "settlement"]
    started = time.perf_counter()
    workers = [subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env.environ()},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(count)]
    ran = 0
    for worker in workers:
        out, err = worker.communicate()
        if worker.returncode != 0:
            raise click.ClickException(f"a worker failed:\n{err[-3000:]}")
        ran += int(out.split()[1])  # "Ran N job(s)."
    seconds = time.perf_counter() - started
    return {"ran": ran, "seconds": seconds,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


@click.group(invoke_without_command=True)
@click.option("--vendors", default=1_000, show_default=True, help="Vendors to pay out.")
@click.option("--workers", default=0, show_default=True,
              help="Separate worker processes sending the transfers (0: in the job's process).")
@click.pass_context
def main(ctx: click.Context, vendors: int, workers: int) -> None:
    if ctx.invoked_subcommand is not None:
        return
    env = BenchEnv.from_environ(database=DATABASE)
    recreate_database(env)
    migrate(env)
    generated = _generate(env, vendors)
    _step(env, "empty-queue")  # the send jobs of an earlier run must not be counted
    click.echo(f"Generated {vendors:,} vendors with an available balance in {generated:.1f} s.")
    if workers:
        run = _step(env, "create")
        sent = _workers(env, workers)
        click.echo(f"create_due_payouts: {run['created']:,} payouts in {run['seconds']:.1f} s; "
                   f"peak RSS {run['rss_before_mb']:.0f} MB before -> "
                   f"{run['rss_peak_mb']:.0f} MB after.")
        click.echo(f"send_payout x {sent['ran']:,} on {workers} worker process(es): "
                   f"{sent['seconds']:.1f} s wall (including their start-up); "
                   f"largest worker's peak RSS {sent['rss_peak_mb']:.0f} MB.")
        total = run["seconds"] + sent["seconds"]
    else:
        run = _step(env, "create-and-send")
        click.echo(f"create_due_payouts: {run['created']:,} payouts in {run['seconds']:.1f} s.")
        click.echo(f"send_payout x {run['ran']:,} in the same process: "
                   f"{run['send_seconds']:.1f} s; peak RSS {run['rss_before_mb']:.0f} MB "
                   f"before -> {run['rss_peak_mb']:.0f} MB after.")
        total = run["seconds"] + run["send_seconds"]
    check = _step(env, "check")
    click.echo(f"Payout run: {total:.1f} s wall for {vendors:,} vendors. Outcome: "
               f"{check['paid']:,} paid of {check['payouts']:,} payouts, "
               f"{check['transfers']:,} sandbox transfers ({check['groups']:,} payouts with "
               f"one), {check['available_minor'] / 100:,.2f} EUR left available, "
               f"{check['paid_out_minor'] / 100:,.2f} EUR paid out.")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@main.command("run-step", hidden=True)
@click.argument("step", type=click.Choice(["empty-queue", "create", "create-and-send",
                                           "check"]))
def run_step(step: str) -> None:
    """(internal) One measured step in this fresh process; prints one JSON line."""
    import sqlalchemy as sa

    from marketplace import create_app
    from marketplace.extensions import db

    app = create_app()
    with app.app_context(), app.test_request_context():
        db.session.execute(sa.text("SELECT 1"))
        result: dict = {}
        if step == "empty-queue":
            from rq import Queue

            from marketplace.kv import get_redis

            result["emptied"] = Queue("settlement", connection=get_redis()).empty()
        elif step in ("create", "create-and-send"):
            from marketplace.jobs import run_queued_jobs
            from payouts.payouts import create_due_payouts

            before = _rss_mb()
            started = time.perf_counter()
            created = create_due_payouts()
            result.update(created=len(created.created), held=len(created.held),
                          seconds=time.perf_counter() - started, rss_before_mb=before)
            if step == "create-and-send":
                started = time.perf_counter()
                result["ran"] = run_queued_jobs()
                result["send_seconds"] = time.perf_counter() - started
            result["rss_peak_mb"] = _rss_mb()
        else:
            result = _outcome(db.session)
    click.echo(json.dumps(result))


def _outcome(session) -> dict:
    import sqlalchemy as sa

    from marketplace.payments.models import SandboxTransfer
    from payouts.models import AccountKind, LedgerAccount, LedgerPosting, Payout, PayoutStatus

    def total(kind: AccountKind) -> int:
        credit = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount_minor), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.credit_account_id)
            .where(LedgerAccount.kind == kind))
        debit = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount_minor), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.debit_account_id)
            .where(LedgerAccount.kind == kind))
        return int(credit) - int(debit)

    return {
        "payouts": session.scalar(sa.select(sa.func.count()).select_from(Payout)),
        "paid": session.scalar(sa.select(sa.func.count()).select_from(Payout)
                               .where(Payout.status == PayoutStatus.PAID)),
        "transfers": session.scalar(sa.select(sa.func.count()).select_from(SandboxTransfer)),
        "groups": session.scalar(sa.select(sa.func.count(sa.distinct(
            SandboxTransfer.transfer_group)))),
        "available_minor": total(AccountKind.VENDOR_AVAILABLE),
        "paid_out_minor": total(AccountKind.VENDOR_PAID_OUT),
    }


if __name__ == "__main__":
    main()
