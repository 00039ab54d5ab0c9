"""Settlement: pending earnings become available after the hold, once, in batches."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.money import Money
from payouts import commission, ledger
from payouts.models import AccountKind, LedgerPosting, LedgerTransaction, TransactionKind
from payouts.settlement import SettlementRun, settle_due
from tests.payouts.ledger_support import checkout, pay, postings_of
from vendors.order_models import SubOrder, SubOrderStatus


def _paid_days_ago(order, days: int) -> None:
    db.session.execute(sa.text("UPDATE orders SET paid_at = :at WHERE id = :id")
                       .bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
                       {"at": utcnow() - dt.timedelta(days=days), "id": order.id})
    db.session.commit()


def _balances(vendor_id: int) -> tuple[Money, Money]:
    return (ledger.balance_of(AccountKind.VENDOR_PENDING, "EUR", vendor_id=vendor_id),
            ledger.balance_of(AccountKind.VENDOR_AVAILABLE, "EUR", vendor_id=vendor_id))


def _settlements() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction).where(
        LedgerTransaction.kind == TransactionKind.SETTLEMENT_RELEASE))


@pytest.fixture
def paid_orders(client, market):
    """Nordic's chair paid 8 days ago (€195.13 share), Atelier (€38.24)'s lamp 6 days ago."""
    commission.create_rule(name="Platform", rate_bp=1_000, currency="EUR",
                           valid_from=utcnow() - dt.timedelta(days=30))
    old = checkout(client, market.buyer, (market.chair, 2))
    pay(old)
    _paid_days_ago(old, 8)
    recent = checkout(client, market.buyer, (market.lamp, 1))
    pay(recent)
    _paid_days_ago(recent, 6)
    return old, recent


def test_earnings_paid_before_the_hold_become_available(app, market, paid_orders):
    old, _ = paid_orders

    run = settle_due()

    assert run == SettlementRun(settled=1, batches=1)
    (part,) = db.session.scalars(sa.select(SubOrder).where(SubOrder.order_id == old.id))
    assert postings_of(f"settle:sub_order:{part.id}") == [
        ("vendor_pending", "vendor_available", 19_513, "EUR")]
    assert _balances(market.nordic.id) == (Money(0, "EUR"), Money(19_513, "EUR"))
    assert _balances(market.atelier.id) == (Money(3_824, "EUR"), Money(0, "EUR"))


def test_the_hold_is_configurable(app, market, paid_orders):
    app.config["SETTLEMENT_HOLD_DAYS"] = 5
    try:
        run = settle_due()
    finally:
        app.config["SETTLEMENT_HOLD_DAYS"] = 7

    assert run.settled == 2
    assert _balances(market.atelier.id) == (Money(0, "EUR"), Money(3_824, "EUR"))


def test_settling_twice_releases_once(app, market, paid_orders):
    settle_due()

    again = settle_due()

    assert again.settled == 0
    assert _settlements() == 1
    assert _balances(market.nordic.id) == (Money(0, "EUR"), Money(19_513, "EUR"))


def test_small_batches_settle_everything_and_a_later_run_picks_up_the_rest(app, market,
                                                                          paid_orders):
    first = settle_due(batch=1)
    later = settle_due(utcnow() + dt.timedelta(days=2), batch=1)

    assert (first.settled, later.settled) == (1, 1)
    assert first.batches == later.batches == 2
    assert _balances(market.atelier.id) == (Money(0, "EUR"), Money(3_824, "EUR"))


def test_a_cancelled_sub_order_stays_pending(app, market, paid_orders):
    old, _ = paid_orders
    (part,) = db.session.scalars(sa.select(SubOrder).where(SubOrder.order_id == old.id))
    part.set_status(SubOrderStatus.CANCELLED)
    db.session.commit()

    assert settle_due().settled == 0
    assert _balances(market.nordic.id) == (Money(19_513, "EUR"), Money(0, "EUR"))


def test_the_settle_command_reports_what_it_released(app, market, paid_orders):
    result = app.test_cli_runner().invoke(args=["marketplace", "settle"])

    assert result.exit_code == 0
    assert result.output == "Settled 1 sub-order(s) in 1 batch(es).\n"


def test_the_settle_command_can_queue_the_job_for_a_worker(app, market, paid_orders):
    result = app.test_cli_runner().invoke(args=["marketplace", "settle", "--enqueue"])

    assert (result.exit_code, result.output) == (0, "Settlement queued.\n")
    assert _settlements() == 0
    assert run_queued_jobs() == 1
    assert _settlements() == 1
    assert _balances(market.nordic.id) == (Money(0, "EUR"), Money(19_513, "EUR"))


@pytest.mark.postgres_only
def test_concurrent_settlements_release_each_sub_order_once(app, market, paid_orders):
    barrier = threading.Barrier(4)
    runs: list[SettlementRun] = []
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait()
                runs.append(settle_due(utcnow() + dt.timedelta(days=2)))
            except BaseException as error:  # noqa: BLE001  (reported below)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(run.settled for run in runs) == 2
    assert _settlements() == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerPosting).join(
        LedgerTransaction).where(LedgerTransaction.kind == TransactionKind.SETTLEMENT_RELEASE)) == 2
    assert _balances(market.nordic.id) == (Money(0, "EUR"), Money(19_513, "EUR"))
    assert _balances(market.atelier.id) == (Money(0, "EUR"), Money(3_824, "EUR"))
