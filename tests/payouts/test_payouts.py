"""Payouts: creating them on schedule, sending them once, failing them, and resolving the ones a
crash left behind, with the sandbox and a fake Stripe on loopback."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.payments import provider
from marketplace.payments.models import SandboxTransfer
from payouts import payouts
from payouts.models import LedgerTransaction, Payout, PayoutStatus, TransactionKind
from tests.fakes.stripe_server import FakeStripe, stripe_configured
from tests.payouts.payout_factories import (
    available,
    fund,
    later,
    make_payable_vendor,
    paid_out,
)
from vendors.models import PayoutSchedule, VendorStatus


@pytest.fixture(autouse=True)
def _request_context(app) -> Iterator[None]:
    # Provider errors are translated for whoever clicked, so services run in a request context.
    with app.test_request_context():
        yield


@pytest.fixture
def fake_stripe(app) -> Iterator[FakeStripe]:
    with stripe_configured(app) as fake:
        yield fake


def _payouts() -> list[tuple]:
    return list(db.session.execute(
        sa.select(Payout.vendor_id, Payout.currency, Payout.amount_minor, Payout.status)
        .order_by(Payout.id)).all())


def _kinds(payout_id: int) -> list[TransactionKind]:
    return list(db.session.scalars(
        sa.select(LedgerTransaction.kind).where(LedgerTransaction.payout_id == payout_id)
        .order_by(LedgerTransaction.id)))


# --- Creating payouts -------------------------------------------------------------------------


def test_a_due_vendor_is_paid_their_whole_available_balance_through_the_sandbox(app):
    vendor = make_payable_vendor()
    fund(vendor, 120_00)
    fund(vendor, 5_50)
    fund(vendor, 30_00, settled=False)
    db.session.commit()

    run = payouts.create_due_payouts()
    ran = run_queued_jobs()

    payout = db.session.scalars(sa.select(Payout)).one()
    db.session.refresh(payout)
    transfer = db.session.scalars(sa.select(SandboxTransfer)).one()
    assert (run.created, run.held, ran) == ([payout.id], {}, 1)
    assert (payout.amount_minor, payout.currency, payout.status, payout.transfer_id,
            payout.attempts) == (125_50, "EUR", PayoutStatus.PAID, transfer.id, 1)
    assert (transfer.amount_minor, transfer.destination, transfer.transfer_group) == (
        125_50, vendor.payout_account_id, f"payout-{payout.id}")
    assert (available(vendor.id), paid_out(vendor.id)) == (0, 125_50)
    assert _kinds(payout.id) == [TransactionKind.PAYOUT_SENT]


def test_a_balance_below_the_vendors_minimum_waits(app):
    vendor = make_payable_vendor(minimum_minor=200_00)
    fund(vendor, 199_99)
    db.session.commit()

    run = payouts.create_due_payouts()

    assert (run.created, _payouts(), available(vendor.id)) == ([], [], 199_99)


def test_suspended_vendors_and_vendors_without_enabled_payouts_are_held(app):
    suspended = make_payable_vendor("Held Shop")
    suspended.status = VendorStatus.SUSPENDED
    not_enabled = make_payable_vendor("New Shop")
    not_enabled.payouts_enabled = False
    fund(suspended, 50_00)
    fund(not_enabled, 70_00)
    db.session.commit()

    run = payouts.create_due_payouts()

    assert run.created == []
    assert run.held == {suspended.id: "suspended", not_enabled.id: "payouts not enabled"}
    assert (available(suspended.id), available(not_enabled.id)) == (50_00, 70_00)
    with pytest.raises(payouts.PayoutHeld, match="suspended"):
        payouts.create_payout(suspended.id, "EUR")


def test_an_account_at_another_provider_is_held(app, fake_stripe):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    vendor.payout_provider = "sandbox"  # connected before Stripe was configured
    fund(vendor, 50_00)
    db.session.commit()

    run = payouts.create_due_payouts()

    assert (run.created, run.held, fake_stripe.transfers) == (
        [], {vendor.id: "payouts not enabled"}, {})


def test_each_currency_is_paid_out_on_its_own(app):
    vendor = make_payable_vendor()
    fund(vendor, 40_00, "EUR")
    fund(vendor, 9_00, "USD")
    db.session.commit()

    payouts.create_due_payouts()

    assert _payouts() == [(vendor.id, "EUR", 40_00, PayoutStatus.PENDING),
                          (vendor.id, "USD", 9_00, PayoutStatus.PENDING)]


def test_a_weekly_vendor_is_paid_once_a_week(app):
    vendor = make_payable_vendor()
    vendor.payout_schedule = PayoutSchedule.WEEKLY
    fund(vendor, 10_00)
    db.session.commit()
    monday = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)

    first = payouts.create_due_payouts(monday)
    fund(vendor, 20_00)
    db.session.commit()
    same_week = payouts.create_due_payouts(monday + dt.timedelta(days=6))
    # Payouts made "now" count for the week they were made in.
    next_week = payouts.create_due_payouts(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))

    assert (len(first.created), same_week.created, len(next_week.created)) == (1, [], 1)
    assert [amount for _v, _c, amount, _s in _payouts()] == [10_00, 20_00]


def test_running_the_payouts_twice_creates_one_payout(app):
    vendor = make_payable_vendor()
    fund(vendor, 10_00)
    db.session.commit()

    payouts.create_due_payouts()
    again = payouts.create_due_payouts()

    assert (again.created, len(_payouts()), available(vendor.id)) == ([], 1, 0)


# --- Sending them -------------------------------------------------------------------------------


def test_the_payout_job_sends_one_transfer_to_stripe(app, fake_stripe):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")
    db.session.commit()

    first = payouts.send_payout(payout.id)
    second = payouts.send_payout(payout.id)

    db.session.refresh(payout)
    (transfer,) = fake_stripe.transfers.values()
    sent = fake_stripe.posts("/v1/transfers")
    assert (first, second) == ("paid", "skipped")
    assert (payout.status, payout.transfer_id) == (PayoutStatus.PAID, transfer["id"])
    assert len(sent) == 1
    assert sent[0].headers["Idempotency-Key"] == f"payout-{payout.id}"
    assert (transfer["amount"], transfer["currency"], transfer["destination"],
            transfer["transfer_group"], transfer["metadata"]) == (
        64_00, "eur", vendor.payout_account_id, f"payout-{payout.id}",
        {"payout_id": str(payout.id), "vendor_id": str(vendor.id)})


def test_a_refused_transfer_fails_the_payout_and_returns_the_money(app, fake_stripe):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")
    db.session.commit()
    fake_stripe.fail_next("POST", "/v1/transfers", status=400,
                          error_type="invalid_request_error", code="account_invalid",
                          message="The destination account is closed.")

    outcome = payouts.send_payout(payout.id)

    db.session.refresh(payout)
    assert outcome == "failed"
    assert (payout.status, payout.transfer_id, payout.failure_reason) == (
        PayoutStatus.FAILED, None,
        "Stripe refused the request: The destination account is closed.")
    assert (available(vendor.id), paid_out(vendor.id)) == (64_00, 0)
    assert _kinds(payout.id) == [TransactionKind.PAYOUT_SENT, TransactionKind.PAYOUT_FAILED]
    assert fake_stripe.transfers == {}


# --- What a crash leaves behind -----------------------------------------------------------------


class SimulatedCrash(Exception):
    pass


@pytest.fixture
def crash_at_commit():
    """Make the n-th commit from now raise, as if the process died right before it."""
    commits = {"left": None}

    def before_commit(session) -> None:
        if commits["left"] is None:
            return
        commits["left"] -= 1
        if commits["left"] == 0:
            raise SimulatedCrash("the worker died before committing")

    event.listen(Session, "before_commit", before_commit)
    try:
        yield lambda n: commits.update(left=n)
    finally:
        event.remove(Session, "before_commit", before_commit)


def test_a_crash_after_the_transfer_is_completed_by_the_reconciler_without_a_second_one(
        app, fake_stripe, crash_at_commit):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")
    db.session.commit()
    crash_at_commit(2)  # the claim commits; the completion after the transfer does not

    with pytest.raises(SimulatedCrash):
        payouts.send_payout(payout.id)
    db.session.rollback()
    db.session.refresh(payout)
    left_behind = (payout.status, payout.transfer_id)
    too_early = payouts.reconcile_stuck_payouts()
    resolved = payouts.reconcile_stuck_payouts(later())
    job_again = payouts.send_payout(payout.id)

    db.session.refresh(payout)
    (transfer,) = fake_stripe.transfers.values()
    assert left_behind == (PayoutStatus.PROCESSING, None)
    assert (too_early, resolved, job_again) == ({}, {payout.id: "paid"}, "skipped")
    assert (payout.status, payout.transfer_id) == (PayoutStatus.PAID, transfer["id"])
    assert len(fake_stripe.posts("/v1/transfers")) == 1
    assert (available(vendor.id), paid_out(vendor.id)) == (0, 64_00)


def test_a_lost_answer_leaves_the_payout_for_the_reconciler(app, fake_stripe):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")
    db.session.commit()
    # Stripe makes the transfer, and the answer and both retries' answers are lost.
    fake_stripe.fail_next("POST", "/v1/transfers", status=500, after_processing=True)
    fake_stripe.fail_next("POST", "/v1/transfers", status=500, times=2)

    outcome = payouts.send_payout(payout.id)
    resolved = payouts.reconcile_stuck_payouts(later())

    db.session.refresh(payout)
    (transfer,) = fake_stripe.transfers.values()
    assert (outcome, resolved) == ("unknown", {payout.id: "paid"})
    assert (payout.status, payout.transfer_id) == (PayoutStatus.PAID, transfer["id"])


def test_a_crash_before_the_transfer_is_sent_again_with_the_same_key(app, fake_stripe,
                                                                    crash_at_commit):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")
    db.session.commit()
    fake_stripe.fail_next("POST", "/v1/transfers", status=500, times=3)  # never arrives

    lost = payouts.send_payout(payout.id)
    resolved = payouts.reconcile_stuck_payouts(later())
    ran = run_queued_jobs()

    db.session.refresh(payout)
    (transfer,) = fake_stripe.transfers.values()
    keys = {r.headers["Idempotency-Key"] for r in fake_stripe.posts("/v1/transfers")}
    assert (lost, resolved, ran) == ("unknown", {payout.id: "retry"}, 2)
    assert (payout.status, payout.transfer_id, payout.attempts) == (
        PayoutStatus.PAID, transfer["id"], 2)
    assert keys == {f"payout-{payout.id}"}


def test_the_reconciler_leaves_a_payout_alone_while_the_provider_cannot_answer(
        app, fake_stripe, crash_at_commit):
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout = payouts.create_payout(vendor.id, "EUR")
    db.session.commit()
    crash_at_commit(2)
    with pytest.raises(SimulatedCrash):
        payouts.send_payout(payout.id)
    db.session.rollback()
    fake_stripe.fail_next("GET", "/v1/transfers", status=503, times=3)

    unanswered = payouts.reconcile_stuck_payouts(later())
    answered = payouts.reconcile_stuck_payouts(later())

    assert (unanswered, answered) == ({payout.id: "unknown"}, {payout.id: "paid"})
    assert len(fake_stripe.posts("/v1/transfers")) == 1


def test_the_sandbox_finds_transfers_by_group(app):
    vendor = make_payable_vendor()
    transfer_id = provider().create_transfer(
        amount_minor=5_00, currency="EUR", destination=vendor.payout_account_id,
        transfer_group="payout-77", source_transaction=None, idempotency_key="payout-77",
        metadata={})

    assert provider().find_transfer(transfer_group="payout-77") == transfer_id
    assert provider().find_transfer(transfer_group="payout-78") is None


# --- Races (PostgreSQL: SQLite serialises writers) ---------------------------------------------


def _needs_postgres(app) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the PostgreSQL run covers row-level races")


def _in_threads(app, count: int, work) -> list[object]:
    """Run ``work()`` in ``count`` threads that start together, each with its own session;
    returns what each returned (or raised)."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        with app.app_context(), app.test_request_context():
            barrier.wait()
            try:
                results[index] = work()
                db.session.commit()
            except Exception as error:  # collected and asserted by the test
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.mark.postgres_only
def test_fifty_payout_requests_against_one_balance_make_one_payout(app):
    _needs_postgres(app)
    vendor = make_payable_vendor()
    fund(vendor, 100_00)
    db.session.commit()
    vendor_id = vendor.id
    db.session.remove()

    results = _in_threads(app, 50, lambda: payouts.create_payout(vendor_id, "EUR") is not None)

    assert sorted(results, key=str) == [False] * 49 + [True]
    assert _payouts() == [(vendor_id, "EUR", 100_00, PayoutStatus.PENDING)]
    assert (available(vendor_id), paid_out(vendor_id)) == (0, 100_00)


@pytest.mark.postgres_only
def test_the_payout_job_run_concurrently_sends_one_transfer(app, fake_stripe):
    _needs_postgres(app)
    vendor = make_payable_vendor(fake_stripe=fake_stripe)
    fund(vendor, 64_00)
    db.session.commit()
    payout_id = payouts.create_payout(vendor.id, "EUR").id
    db.session.commit()
    db.session.remove()

    results = _in_threads(app, 10, lambda: payouts.send_payout(payout_id))

    assert sorted(results) == ["paid"] + ["skipped"] * 9
    assert len(fake_stripe.posts("/v1/transfers")) == 1
    assert len(fake_stripe.transfers) == 1
    assert db.session.get(Payout, payout_id).status == PayoutStatus.PAID


@pytest.mark.postgres_only
def test_concurrent_payout_runs_create_one_payout_per_vendor(app):
    _needs_postgres(app)
    vendors = [make_payable_vendor(f"Shop {n}") for n in range(3)]
    for vendor in vendors:
        fund(vendor, 10_00)
    db.session.commit()
    db.session.remove()

    results = _in_threads(app, 8, lambda: len(payouts.create_due_payouts().created))

    assert sum(results) == 3
    assert len(_payouts()) == 3
