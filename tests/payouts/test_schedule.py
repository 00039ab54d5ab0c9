"""The money schedule: `flask marketplace scheduler` queues the settlement job and the payout run
once per interval however many schedulers tick, and the queued jobs do their work."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from rq import Queue

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.kv import get_redis
from marketplace.models import OutboxJob
from marketplace.money import Money
from marketplace.payments.models import SandboxTransfer
from payouts import commission, ledger, payouts, schedule
from payouts.models import AccountKind, LedgerTransaction, Payout, PayoutStatus, TransactionKind
from tests.payouts.ledger_support import checkout, pay
from tests.payouts.payout_factories import available, fund, make_payable_vendor, paid_out

# A moment on a whole hour: the start of a settlement slot (3600 s) and of a payouts slot (900 s).
HOUR = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _request_context(app) -> Iterator[None]:
    with app.test_request_context():
        yield


@pytest.fixture
def intervals(app) -> Iterator[dict]:
    """The app's intervals, restored after the test changes them."""
    names = ("SETTLEMENT_EVERY_SECONDS", "PAYOUTS_EVERY_SECONDS")
    saved = {name: app.config[name] for name in names}
    yield app.config
    app.config.update(saved)


def _outbox() -> list[tuple[str, str | None]]:
    return list(db.session.execute(
        sa.select(OutboxJob.func, OutboxJob.job_id).order_by(OutboxJob.func)).all())


def _waiting() -> list[str]:
    return sorted(Queue("settlement", connection=get_redis()).get_job_ids())


QUEUED_BOTH = [("payouts.schedule.run_payouts", "payout-run"),
               ("payouts.settlement.settle_due", "settlement-run")]


def test_two_schedulers_ticking_at_once_queue_each_job_once(app):
    barrier = threading.Barrier(2)
    results: list[object] = []

    def scheduler() -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.extend(schedule.tick(HOUR + 5))
            except Exception as error:  # collected and asserted below
                results.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(results, key=str) == ["payouts", "settlement"]
    assert _outbox() == QUEUED_BOTH
    assert _waiting() == ["payout-run", "settlement-run"]


def test_a_tick_later_in_the_interval_queues_nothing_and_the_next_interval_queues_again(app):
    first = schedule.tick(HOUR)
    same_interval = schedule.tick(HOUR + 899)
    next_payouts = schedule.tick(HOUR + 900)
    next_hour = schedule.tick(HOUR + 3600)

    assert (first, same_interval, next_payouts, next_hour) == (
        ["settlement", "payouts"], [], ["payouts"], ["settlement", "payouts"])
    # Runs still waiting in the queue are not queued a second time (stable job ids).
    assert _waiting() == ["payout-run", "settlement-run"]


def test_an_interval_of_zero_turns_a_task_off(app, intervals):
    intervals["PAYOUTS_EVERY_SECONDS"] = 0

    assert schedule.tick(HOUR) == ["settlement"]
    assert _outbox() == QUEUED_BOTH[1:]


def test_a_scheduler_that_cannot_queue_gives_the_interval_back(app, monkeypatch):
    def redis_down(*args, **kwargs):
        raise ConnectionError("outbox unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(schedule, "enqueue_after_commit", redis_down)
        with pytest.raises(ConnectionError):
            schedule.tick(HOUR)

    assert schedule.tick(HOUR + 1) == ["settlement", "payouts"]
    assert _outbox() == QUEUED_BOTH


def test_the_scheduler_sleeps_until_the_next_interval_starts_and_at_most_a_minute(app):
    assert schedule.seconds_to_next_slot(HOUR + 890) == pytest.approx(10.01)
    assert schedule.seconds_to_next_slot(HOUR + 100) == schedule.MAX_SLEEP_SECONDS


def test_the_scheduler_command_queues_once_per_interval(app, intervals):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["marketplace", "scheduler", "--once"])
    again = runner.invoke(args=["marketplace", "scheduler", "--once"])
    intervals.update(SETTLEMENT_EVERY_SECONDS=0, PAYOUTS_EVERY_SECONDS=0)
    off = runner.invoke(args=["marketplace", "scheduler", "--once"])

    # stdout only: the scheduler also logs each queued job (to stderr, as every log line).
    assert (first.exit_code, first.stdout) == (0, "Queued: settlement, payouts.\n")
    assert (again.exit_code, again.stdout) == (
        0, "Queued: nothing (already queued this interval).\n")
    assert off.exit_code == 2
    assert "Nothing to schedule" in off.output


# --- The queued jobs ----------------------------------------------------------------------


def _paid_days_ago(order, days: int) -> None:
    db.session.execute(sa.text("UPDATE orders SET paid_at = :at WHERE id = :id")
                       .bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
                       {"at": utcnow() - dt.timedelta(days=days), "id": order.id})
    db.session.commit()


def _pending_and_available(vendor_id: int) -> tuple[Money, Money]:
    return (ledger.balance_of(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor_id),
            ledger.balance_of(AccountKind.VENDOR_AVAILABLE, "EUR", vendor_id=vendor_id))


def test_the_scheduled_settlement_runs_from_the_queue_and_releases_what_is_due(app, client,
                                                                               market):
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR",
                           valid_from=utcnow() - dt.timedelta(days=30))
    old = checkout(client, market.buyer, (market.chair, 2))
    pay(old)
    _paid_days_ago(old, 8)  # past the 7-day hold: Nordic's €195.13 share
    recent = checkout(client, market.buyer, (market.lamp, 1))
    pay(recent)
    _paid_days_ago(recent, 6)  # Atelier's €38.24 stays pending

    queued = schedule.tick()
    ran = run_queued_jobs()

    assert (queued, ran) == (["settlement", "payouts"], 2)
    assert _pending_and_available(market.nordic.id) == (Money(0, "EUR"), Money(19_513, "EUR"))
    assert _pending_and_available(market.atelier.id) == (Money(3_824, "EUR"), Money(0, "EUR"))


def test_the_scheduled_payout_run_pays_due_vendors_through_the_sandbox(app):
    vendor = make_payable_vendor()
    fund(vendor, 80_00)
    db.session.commit()

    schedule.tick()
    ran = run_queued_jobs()  # settlement, the payout run, then the transfer it queued

    (payout,) = db.session.scalars(sa.select(Payout))
    (transfer,) = db.session.scalars(sa.select(SandboxTransfer))
    assert ran == 3
    assert (payout.status, payout.amount_minor, payout.transfer_id) == (
        PayoutStatus.PAID, 80_00, transfer.id)
    assert (available(vendor.id), paid_out(vendor.id)) == (0, 80_00)


# --- The payout run twice and at once (PostgreSQL: SQLite serialises writers) -------------------


@pytest.mark.postgres_only
def test_payout_runs_and_their_transfers_run_concurrently_and_again_pay_each_vendor_once(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the PostgreSQL run covers row-level races")
    vendors = [make_payable_vendor(f"Shop {n}") for n in range(3)]
    for n, vendor in enumerate(vendors):
        fund(vendor, (n + 1) * 10_00)
    db.session.commit()
    vendor_ids = [vendor.id for vendor in vendors]
    db.session.remove()
    barrier = threading.Barrier(6)
    outcomes: list[object] = []

    def payout_worker() -> None:
        # One worker's day: the payout run, then the send job of every payout it can see.
        with app.app_context(), app.test_request_context():
            try:
                barrier.wait()
                schedule.run_payouts()
                for payout_id in db.session.scalars(sa.select(Payout.id)).all():
                    outcomes.append(payouts.send_payout(payout_id))
            except Exception as error:  # collected and asserted below
                outcomes.append(error)
            finally:
                db.session.remove()

    for _round in range(2):  # at once, and then all over again
        threads = [threading.Thread(target=payout_worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    queued_sends = run_queued_jobs()  # the send jobs the runs queued: nothing left to do

    rows = db.session.execute(sa.select(Payout.vendor_id, Payout.amount_minor, Payout.status,
                                        Payout.transfer_id).order_by(Payout.vendor_id)).all()
    transfers = db.session.execute(
        sa.select(SandboxTransfer.transfer_group, sa.func.count())
        .group_by(SandboxTransfer.transfer_group)).all()
    sent = db.session.scalars(
        sa.select(sa.func.count()).select_from(LedgerTransaction)
        .where(LedgerTransaction.kind == TransactionKind.PAYOUT_SENT)).one()
    assert [o for o in outcomes if not isinstance(o, str)] == []
    assert outcomes.count("paid") == 3
    assert [(v, amount, status) for v, amount, status, _t in rows] == [
        (vendor_ids[0], 10_00, PayoutStatus.PAID), (vendor_ids[1], 20_00, PayoutStatus.PAID),
        (vendor_ids[2], 30_00, PayoutStatus.PAID)]
    assert sorted(count for _group, count in transfers) == [1, 1, 1]
    assert sent == 3
    assert queued_sends == 3
    assert [(available(v), paid_out(v)) for v in vendor_ids] == [
        (0, 10_00), (0, 20_00), (0, 30_00)]
