"""The money schedule: the settlement job and the payout run, queued on an interval.

``flask marketplace scheduler`` is a small long-running process that calls :func:`tick` at
every slot boundary. Each :class:`Task` has an interval (``SETTLEMENT_EVERY_SECONDS``,
``PAYOUTS_EVERY_SECONDS``; 0 turns a task off). Time is cut into slots of that many seconds
counted from the Unix epoch, and the scheduler that first claims a slot in Redis
(``SET marketplace:schedule:<task>:<interval>:<slot> NX EX``) queues the task's job for it,
through the outbox, under the task's stable job id (so at most one run waits in the queue).

Why not RQ's own ``CronScheduler``: in RQ 3.0 it is marked beta and keeps each job's next run
time in the memory of the process that registered it, so two cron processes both enqueue
every job (and a restarted one enqueues again at once); it also enqueues straight to RQ,
around the outbox the other jobs go through. Here nothing is remembered in a process: any
number of schedulers on any number of machines sharing ``REDIS_URL`` queue each job once per
slot, and a scheduler restarted or started late finds the current slot claimed (slot keys
outlive their slot by ``CLOCK_SKEW_SECONDS``, so clocks a few minutes apart still agree). A
scheduler that claims a slot and then cannot write the outbox row gives the slot back for
another to take.

With ``REDIS_URL`` unset (``make run`` on a laptop) the claim lives in the scheduler process's
embedded fake Redis and the queued jobs run on that process's embedded job thread; run one
scheduler per machine then. Both jobs are idempotent and safe to run concurrently anyway
(``payouts.settlement``, ``payouts.payouts``), so a second scheduler would cost work, never
money.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.kv import get_redis
from payouts import clawback, payouts, refunds, settlement

log = logging.getLogger(__name__)

PAYOUT_RUN_JOB_ID = "payout-run"  # one waiting run at a time
CLOCK_SKEW_SECONDS = 300
# The longest a scheduler sleeps between looks at the clock (a wall clock set forward, or
# an interval changed by a deploy, is noticed within this).
MAX_SLEEP_SECONDS = 60.0
RETRY_SECONDS = 5.0


def run_payouts() -> dict[str, int]:
    """The payout run (job, queue ``settlement``): resolve payouts, refunds and transfer
    reversals a crashed worker left in ``processing`` (what ``flask marketplace refunds``
    does), then create every due vendor's payouts and queue their transfers (what
    ``flask marketplace payouts`` does); idempotent and safe to run concurrently. Returns
    counts: ``resolved`` (stuck payouts, refunds and reversals looked at; not those held for
    a person, see ``payouts.clawback.REPLAY_WINDOW``), ``created``,
    ``held`` (vendors)."""
    stuck = {**{f"refund:{k}": v for k, v in refunds.reconcile_stuck_refunds().items()},
             **{f"reversal:{k}": v for k, v in clawback.reconcile_stuck_reversals().items()}}
    resolved = (len(payouts.reconcile_stuck_payouts())
                + sum(1 for outcome in stuck.values() if outcome != "held"))
    run = payouts.create_due_payouts()
    return {"resolved": resolved, "created": len(run.created), "held": len(run.held)}


@dataclass(frozen=True)
class Task:
    name: str
    interval_setting: str  # the config key holding its interval in seconds
    queue: str
    func: Callable[..., Any]
    job_id: str

    def interval(self) -> int:
        """Seconds between runs; 0 when the task is off."""
        return max(int(current_app.config.get(self.interval_setting) or 0), 0)


TASKS = (
    Task("settlement", "SETTLEMENT_EVERY_SECONDS", settlement.QUEUE, settlement.settle_due,
         settlement.JOB_ID),
    Task("payouts", "PAYOUTS_EVERY_SECONDS", payouts.QUEUE, run_payouts, PAYOUT_RUN_JOB_ID),
)


def slot_key(task: Task, every: int, slot: int) -> str:
    return f"marketplace:schedule:{task.name}:{every}:{slot}"


def tick(now: float | None = None) -> list[str]:
    """Queue the job of every task whose current slot no scheduler has claimed yet; returns
    the names of the tasks this call queued. Commits the outbox rows it writes.

    Raises what Redis or the database raised (the slot is given back first)."""
    now = time.time() if now is None else now
    connection = get_redis()
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    queued: list[str] = []
    for task in TASKS:
        every = task.interval()
        if not every:
            continue
        key = slot_key(task, every, int(now // every))
        if not connection.set(key, owner, nx=True, ex=every + CLOCK_SKEW_SECONDS):
            continue  # another scheduler (or this one, earlier) has this slot
        try:
            enqueue_after_commit(task.queue, task.func, job_id=task.job_id)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            connection.delete(key)  # let another scheduler queue it
            raise
        queued.append(task.name)
        log.info("scheduled job queued", extra={"task": task.name, "job_id": task.job_id})
    return queued


def seconds_to_next_slot(now: float | None = None) -> float | None:
    """How long until the next slot of any task starts (at most MAX_SLEEP_SECONDS); None when
    every task is off."""
    now = time.time() if now is None else now
    intervals = [every for task in TASKS if (every := task.interval())]
    if not intervals:
        return None
    # A hair past the boundary, so the tick lands in the new slot whatever the rounding.
    return min(min(every - now % every for every in intervals) + 0.01, MAX_SLEEP_SECONDS)


def run_scheduler(stop: threading.Event | None = None,
                  on_queued: Callable[[list[str]], None] | None = None) -> None:
    """Tick at every slot boundary until ``stop`` is set (or forever); returns at once when
    every task is off. A failed tick (Redis or the database away) is logged and tried again
    ``RETRY_SECONDS`` later (its slot was given back); it never ends the loop."""
    stop = stop or threading.Event()
    while not stop.is_set() and seconds_to_next_slot() is not None:
        failed = False
        try:
            queued = tick()
            if queued and on_queued is not None:
                on_queued(queued)
        except Exception:  # the scheduler must outlive a Redis or database blip
            log.warning("A scheduler tick failed; retrying", exc_info=True)
            failed = True
        finally:
            db.session.remove()
        wait = seconds_to_next_slot() or 0.0
        stop.wait(min(wait, RETRY_SECONDS) if failed else wait)
