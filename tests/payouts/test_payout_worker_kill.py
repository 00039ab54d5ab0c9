"""A real RQ worker process running the payout job, killed with SIGKILL before the provider call,
after it (transfer made, completion not committed) and after the commit: once the reconciler
and the job have run again, every payout is paid exactly once, with exactly one transfer.

PostgreSQL and real Redis only: the worker is a separate process (``rq worker``), which the
embedded fake Redis of the SQLite run can't reach. The kill points are a test hook in the
worker process (``tests/payouts/kill_points.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.payments.models import SandboxTransfer
from payouts import payouts
from payouts.models import LedgerTransaction, Payout, PayoutStatus, TransactionKind
from tests.fakes.stripe_server import FakeStripe, stripe_configured
from tests.payouts.kill_points import ENV, POINTS
from tests.payouts.payout_factories import (
    available,
    fund,
    later,
    make_payable_vendor,
    paid_out,
)

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[2]
RQ = Path(sys.executable).parent / "rq"

AMOUNT = 64_00


@pytest.fixture(autouse=True)
def _postgres_and_redis(app) -> Iterator[None]:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") or \
            not app.config.get("REDIS_URL"):
        pytest.skip("a separate worker process needs PostgreSQL and a real Redis")
    with app.test_request_context():
        yield


@pytest.fixture(params=["sandbox", "stripe"])
def gateway(request, app) -> Iterator[FakeStripe | None]:
    """The sandbox (transfers are rows in the worker's own transaction) or the fake Stripe
    (transfers exist at Stripe the moment it answers, whatever the worker does next)."""
    if request.param == "sandbox":
        yield None
        return
    with stripe_configured(app) as fake:
        yield fake


def run_worker(app: Flask, kill_at: str | None = None) -> int:
    """``rq worker --burst`` on the settlement queue in a process of its own, configured like a
    production worker (DATABASE_URL, REDIS_URL, the app's payment provider); returns its exit
    status (-SIGKILL when it was killed at ``kill_at``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_") and k != ENV}
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"], SECRET_KEY=app.config["SECRET_KEY"],
               JOBS_EMBEDDED_WORKER="0", LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    if app.config.get("STRIPE_SECRET_KEY"):
        env.update(STRIPE_SECRET_KEY=app.config["STRIPE_SECRET_KEY"],
                   STRIPE_API_BASE=app.config["STRIPE_API_BASE"],
                   STRIPE_MAX_NETWORK_RETRIES=str(app.config["STRIPE_MAX_NETWORK_RETRIES"]))
    worker_class = "marketplace.jobs.MarketplaceWorker"
    if kill_at is not None:
        env[ENV] = kill_at
        worker_class = "tests.payouts.kill_points.KillingWorker"
    done = subprocess.run(
        [str(RQ), "worker", "--burst", "--url", env["REDIS_URL"], "--worker-class", worker_class,
         "settlement"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr[-3000:]
    return done.returncode


def transfers_of(payout_id: int, fake: FakeStripe | None) -> list[str]:
    """The ids of the transfers the gateway holds for the payout."""
    group = payouts.transfer_group(payout_id)
    if fake is None:
        return list(db.session.scalars(
            sa.select(SandboxTransfer.id).where(SandboxTransfer.transfer_group == group)))
    return [t["id"] for t in fake.transfers.values() if t["transfer_group"] == group]


def ledger_kinds(payout_id: int) -> list[TransactionKind]:
    return list(db.session.scalars(
        sa.select(LedgerTransaction.kind).where(LedgerTransaction.payout_id == payout_id)
        .order_by(LedgerTransaction.id)))


# What the worker left behind at each point, and what the reconciler then does with it. With
# the sandbox the transfer is a row of the killed transaction, so it vanished with it.
LEFT_BEHIND = {
    ("before_transfer", "sandbox"): (PayoutStatus.PROCESSING, 0, "retry"),
    ("before_transfer", "stripe"): (PayoutStatus.PROCESSING, 0, "retry"),
    ("after_transfer", "sandbox"): (PayoutStatus.PROCESSING, 0, "retry"),
    ("after_transfer", "stripe"): (PayoutStatus.PROCESSING, 1, "paid"),
    ("after_commit", "sandbox"): (PayoutStatus.PAID, 1, None),
    ("after_commit", "stripe"): (PayoutStatus.PAID, 1, None),
}


@pytest.mark.parametrize("point", POINTS)
def test_a_payout_worker_killed_mid_job_pays_once_after_the_reconciler_and_a_rerun(
        app, gateway, point):
    vendor = make_payable_vendor(fake_stripe=gateway)
    fund(vendor, AMOUNT)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")  # queues send_payout on commit
    db.session.commit()
    payout_id, vendor_id = payout.id, vendor.id
    db.session.remove()

    killed = run_worker(app, kill_at=point)
    left = db.session.get(Payout, payout_id)
    left_behind = (left.status, len(transfers_of(payout_id, gateway)))
    resolved = payouts.reconcile_stuck_payouts(later())
    enqueue_after_commit(payouts.QUEUE, payouts.send_payout, payout_id)  # and the job again
    db.session.commit()
    db.session.remove()
    recovered = run_worker(app)

    payout = db.session.get(Payout, payout_id)
    gateway_name = "sandbox" if gateway is None else "stripe"
    status, transfers, reconciled = LEFT_BEHIND[(point, gateway_name)]
    assert killed == -signal.SIGKILL
    assert left_behind == (status, transfers)
    assert resolved == ({} if reconciled is None else {payout_id: reconciled})
    assert recovered == 0
    (transfer_id,) = transfers_of(payout_id, gateway)
    assert (payout.status, payout.transfer_id) == (PayoutStatus.PAID, transfer_id)
    assert ledger_kinds(payout_id) == [TransactionKind.PAYOUT_SENT]
    assert (available(vendor_id), paid_out(vendor_id)) == (0, AMOUNT)
    if gateway is not None:
        keys = {r.headers["Idempotency-Key"] for r in gateway.posts("/v1/transfers")}
        assert keys == {f"payout-{payout_id}"}
