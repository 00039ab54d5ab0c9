"""Payout correctness under races and crashes: ``python -m bench.payout_races`` (or
``make bench-payouts``).

Recreates the database ``marketplace_bench_payouts`` (beside ``BENCH_POSTGRES_URL``), migrates
it, serves the test suite's fake Stripe on loopback (no real Stripe is ever contacted) and
points the app at it, then for ``--vendors`` vendors each holding enough available balance
for exactly one payout:

1. **Requests**: ``--requests`` threads call ``create_payout`` for the same vendor at once.
   Prints how many payouts were created per vendor, the total paid out against the total
   available, and the lowest the available balance ever was (replaying the ledger's postings).
2. **Jobs**: the payout job runs ``--job-runs`` times at once per payout, then once more
   after they finished. Prints the transfers Stripe received per payout.
3. **Crashes**: for each vendor, a child process runs the payout job and is killed
   (``os._exit``) right after Stripe created the transfer and before the payout's commit;
   then ``reconcile_stuck_payouts`` runs as the cron command would (its clock moved past
   ``PAYOUT_RECONCILE_MINUTES``). Prints how many payouts the reconciler completed and the
   transfers per payout.

A script that prints figures, not a test: exits 0 whatever they are, non-zero only when it
could not measure.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
from collections import Counter

import click

from bench.catalog import ROOT, BenchEnv, migrate, recreate_database

DATABASE = "marketplace_bench_payouts"
BALANCE = 100_00


def _app(env: BenchEnv, stripe_url: str):
    env.apply()
    os.environ.update(STRIPE_SECRET_KEY="sk_test_bench_payouts", STRIPE_API_BASE=stripe_url,
                      JOBS_EMBEDDED_WORKER="0")
    from marketplace import create_app

    return create_app()


def _in_threads(app, count: int, work) -> list[object]:
    from marketplace.extensions import db

    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        with app.app_context(), app.test_request_context():
            barrier.wait()
            try:
                results[index] = work()
                db.session.commit()
            except Exception as error:  # counted in the figures
                db.session.rollback()
                results[index] = repr(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _funded_vendor(fake, n: int) -> int:
    from marketplace.extensions import db
    from marketplace.payments import ConnectedAccountDetails, provider
    from payouts import ledger
    from payouts.models import AccountKind, TransactionKind
    from vendors.models import Vendor, VendorStatus

    vendor = Vendor(name=f"Bench shop {n}", slug=f"bench-shop-{n}",
                    status=VendorStatus.APPROVED, country="DE", default_currency="EUR")
    db.session.add(vendor)
    db.session.flush()
    account_id = provider().create_connected_account(ConnectedAccountDetails(
        reference=f"vendor-{vendor.id}", business_name=vendor.name, country="DE"))
    fake.complete_onboarding(account_id)
    vendor.payout_provider, vendor.payout_account_id = "stripe", account_id
    vendor.payouts_enabled = vendor.payout_details_submitted = True
    cash = ledger.account(AccountKind.PROVIDER_CASH, "EUR")
    pending = ledger.account(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor.id)
    available = ledger.account(AccountKind.VENDOR_AVAILABLE, "EUR", vendor_id=vendor.id)
    ledger.post(TransactionKind.PAYMENT_CAPTURED, f"bench-capture:{vendor.id}",
                [(cash.id, pending.id, BALANCE, "EUR")], vendor_id=vendor.id)
    ledger.post(TransactionKind.SETTLEMENT_RELEASE, f"bench-settle:{vendor.id}",
                [(pending.id, available.id, BALANCE, "EUR")], vendor_id=vendor.id)
    db.session.commit()
    return vendor.id


def _lowest_available(vendor_id: int) -> int:
    """Replay the vendor's available account posting by posting; the lowest running total."""
    import sqlalchemy as sa

    from marketplace.extensions import db
    from payouts import ledger
    from payouts.models import AccountKind, LedgerPosting

    account = ledger.account(AccountKind.VENDOR_AVAILABLE, "EUR", vendor_id=vendor_id)
    running = lowest = 0
    for debit, amount in db.session.execute(
        sa.select(LedgerPosting.debit_account_id, LedgerPosting.amount_minor)
        .where(sa.or_(LedgerPosting.debit_account_id == account.id,
                      LedgerPosting.credit_account_id == account.id))
        .order_by(LedgerPosting.transaction_id, LedgerPosting.id)
    ):
        running += -amount if debit == account.id else amount
        lowest = min(lowest, running)
    return lowest


@click.group(invoke_without_command=True)
@click.option("--vendors", default=10, show_default=True, help="Vendors (one race each).")
@click.option("--requests", "requests_", default=50, show_default=True,
              help="Concurrent payout requests per vendor.")
@click.option("--job-runs", default=10, show_default=True,
              help="Concurrent runs of the payout job per payout.")
@click.pass_context
def main(ctx: click.Context, vendors: int, requests_: int, job_runs: int) -> None:
    if ctx.invoked_subcommand is not None:
        return
    import sqlalchemy as sa

    from marketplace.extensions import db
    from payouts import payouts
    from payouts.models import Payout, PayoutStatus
    from tests.fakes.stripe_server import FakeStripeServer

    env = BenchEnv.from_environ(database=DATABASE)
    click.echo(f"Recreating and migrating {env.database}...")
    recreate_database(env)
    migrate(env)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake's request log
    with FakeStripeServer() as fake:
        app = _app(env, fake.url)
        with app.app_context(), app.test_request_context():
            # 1. Many payout requests against one balance.
            ids = [_funded_vendor(fake, n) for n in range(vendors)]
            created: Counter[int] = Counter()
            errors = 0
            for vendor_id in ids:
                results = _in_threads(app, requests_, lambda v=vendor_id: (
                    payouts.create_payout(v, "EUR") is not None))
                created[vendor_id] = results.count(True)
                errors += sum(1 for r in results if isinstance(r, str))
            db.session.expire_all()
            paid_out = db.session.scalar(sa.select(sa.func.sum(Payout.amount_minor))) or 0
            lowest = min(_lowest_available(v) for v in ids)
            click.echo(f"\n1. {requests_} concurrent payout requests x {vendors} vendors, "
                       f"each balance {BALANCE / 100:.2f} EUR:")
            click.echo(f"   payouts per vendor: {sorted(Counter(created.values()).items())} "
                       f"(count: vendors); errors: {errors}")
            click.echo(f"   paid out {paid_out / 100:.2f} of {vendors * BALANCE / 100:.2f} "
                       f"available; lowest available balance ever: {lowest / 100:.2f}")

            # 2. The payout job run concurrently, then once more.
            half = db.session.scalars(sa.select(Payout.id).order_by(Payout.id)).all()
            jobs, crashes = half[: len(half) // 2], half[len(half) // 2:]
            outcomes: Counter[object] = Counter()
            for payout_id in jobs:
                outcomes.update(_in_threads(app, job_runs,
                                            lambda p=payout_id: payouts.send_payout(p)))
                outcomes.update([payouts.send_payout(payout_id)])
            per_payout = _transfers_per_group(fake)
            click.echo(f"\n2. the payout job run {job_runs}x at once, then again, for "
                       f"{len(jobs)} payouts:")
            click.echo(f"   outcomes: {dict(outcomes)}")
            click.echo(f"   transfers per payout at Stripe: "
                       f"{sorted(Counter(per_payout[f'payout-{p}'] for p in jobs).items())}")

            # 3. A worker killed between Stripe's answer and its commit.
            exits = Counter()
            for payout_id in crashes:
                child = subprocess.run(
                    [sys.executable, "-m", "bench.payout_races", "crash-one",
                     "--stripe-url", fake.url, str(payout_id)],
                    cwd=ROOT, env={**os.environ}, capture_output=True, text=True)
                exits[child.returncode] += 1
            db.session.expire_all()
            stuck = db.session.scalar(sa.select(sa.func.count(Payout.id)).where(
                Payout.id.in_(crashes), Payout.status == PayoutStatus.PROCESSING))
            later = dt.datetime.now(dt.UTC) + dt.timedelta(
                minutes=app.config["PAYOUT_RECONCILE_MINUTES"] + 1)
            resolved = payouts.reconcile_stuck_payouts(later)
            per_payout = _transfers_per_group(fake)
            paid = db.session.scalar(sa.select(sa.func.count(Payout.id)).where(
                Payout.id.in_(crashes), Payout.status == PayoutStatus.PAID))
            click.echo(f"\n3. a worker killed after Stripe's transfer, before its commit, for "
                       f"{len(crashes)} payouts:")
            click.echo(f"   child exit codes: {dict(exits)}; left in processing: {stuck}")
            click.echo(f"   reconciler: {dict(Counter(resolved.values()))}; paid now: {paid}")
            click.echo(f"   transfers per payout at Stripe: "
                       f"{sorted(Counter(per_payout[f'payout-{p}'] for p in crashes).items())}")
            total = db.session.scalar(sa.select(sa.func.count(Payout.id)))
            click.echo(f"\nAll: {len(fake.transfers)} transfers for {total} payouts.")


def _transfers_per_group(fake) -> Counter[str]:
    return Counter(t["transfer_group"] for t in fake.transfers.values())


@main.command("crash-one")
@click.option("--stripe-url", required=True)
@click.argument("payout_id", type=int)
def crash_one(stripe_url: str, payout_id: int) -> None:
    """(internal) Run the payout job and die right before the commit that follows Stripe's
    answer (the second commit: the first is the claim)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from payouts import payouts

    commits = {"n": 0}

    def before_commit(session) -> None:
        commits["n"] += 1
        if commits["n"] == 2:
            os._exit(137)

    env = BenchEnv.from_environ(database=DATABASE)
    app = _app(env, stripe_url)
    event.listen(Session, "before_commit", before_commit)
    with app.app_context(), app.test_request_context():
        payouts.send_payout(payout_id)
    sys.exit(0)  # not reached when the crash happened


if __name__ == "__main__":
    main()
