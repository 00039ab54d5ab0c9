"""Background jobs: a transactional outbox in front of RQ, workers, and what the admin page reads.

How a job travels
-----------------
1. Code calls ``enqueue_after_commit(queue, func, *args, job_id=None, **kwargs)``. That only adds
   an :class:`~marketplace.models.OutboxJob` row to ``db.session``, in the caller's transaction.
2. When that transaction commits, a session listener pushes exactly the outbox rows flushed in
   it to RQ and marks them ``enqueued_at`` in a short transaction of its own. A rollback
   discards the rows, so nothing is enqueued. A worker therefore never runs before the rows
   it works on are visible.
3. If Redis is unreachable at that moment the request still succeeds (its data is committed):
   the row stays pending with ``attempts``/``last_error`` and ``drain_outbox()``, which every
   worker runs every few seconds, delivers it later.
4. A worker runs :func:`run_job`, which imports the target function by its dotted path and
   calls it inside a fresh app context (its own database session, removed afterwards).

Delivery is **at-least-once**: a crash between pushing to Redis and marking the row, or a
worker killed mid-job, runs a job again. Job functions are therefore idempotent by convention:
they take ids and plain values, reload their rows, check whether the work is already done,
and commit their own changes. Pushing a job whose ``job_id`` is still waiting in its queue is
skipped, so a stable ``job_id`` also coalesces repeated requests for the same work.

Running workers
---------------
- Production (REDIS_URL set): ``flask marketplace worker`` (all queues, or
  ``--queues default,email``). Plain RQ works too, because :func:`run_job` builds the app
  from the environment when there is none:
  ``rq worker -u $REDIS_URL -w marketplace.jobs.MarketplaceWorker default search settlement
  shipping email`` (``-w`` keeps one app per worker; without it every forked job builds one).
  Run ``flask marketplace drain-outbox`` from cron if you run plain ``rq worker`` only.
- Embedded (no REDIS_URL): the queues live in an in-process fake Redis and, with
  ``JOBS_EMBEDDED_WORKER`` (default on), one daemon thread per process runs them, started on
  the first enqueue. Jobs still queued when the process exits are run before it exits.
- Tests and the seed call :func:`run_queued_jobs` to run everything queued, synchronously.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus, validate_job_id
from rq.results import Result
from rq.timeouts import TimerDeathPenalty
from rq.utils import import_attribute
from rq.worker import WorkerStatus
from sqlalchemy import event

from marketplace import create_app
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.kv import get_redis, is_embedded
from marketplace.models import OutboxJob

log = logging.getLogger(__name__)

QUEUES = ("default", "search", "settlement", "shipping", "email")

# Seconds a job may run before RQ stops it. Index rebuilds and settlement runs are long.
JOB_TIMEOUTS = {"default": 600, "search": 3600, "settlement": 3600, "shipping": 600, "email": 120}
# Finished jobs stay visible on /admin/jobs for a day, failed ones for a week (to retry them).
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
# How often workers (and the embedded thread) push outbox rows a Redis hiccup left behind.
DRAIN_INTERVAL_SECONDS = 5.0
DRAIN_BATCH = 500

_SESSION_KEY = "marketplace.outbox_ids"
_OUTBOX = OutboxJob.__table__


def _dotted(func: Callable[..., Any] | str) -> str:
    return func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"


def enqueue_after_commit(queue: str, func: Callable[..., Any] | str, *args: Any,
                         job_id: str | None = None, **kwargs: Any) -> OutboxJob:
    """Run ``func(*args, **kwargs)`` on ``queue`` once the current transaction commits.

    ``func`` is a module-level function (or its dotted path); args and kwargs must be JSON
    values (ids, strings, numbers), because they are stored in the outbox row. ``job_id`` names
    the RQ job; give a stable one for work that must not pile up (it is skipped while a job of
    that id is still waiting). Raises ``ValueError`` for an unknown queue or a ``job_id`` with
    characters other than letters, digits, ``_`` and ``-``.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {QUEUES}")
    if job_id is not None:
        validate_job_id(job_id)  # letters, digits, _ and -; fail here, not later in a worker
    row = OutboxJob(queue=queue, func=_dotted(func), args=list(args), kwargs=kwargs, job_id=job_id)
    db.session.add(row)
    if has_app_context():
        _ensure_embedded_worker(current_app._get_current_object())
    return row


# --- Executing jobs ------------------------------------------------------------------------

_standalone_app: Flask | None = None


def _job_app() -> Flask:
    """The app a job runs in: the current one, else one built from the environment (rq worker)."""
    global _standalone_app
    if has_app_context():
        return current_app._get_current_object()
    if _standalone_app is None:
        _standalone_app = create_app()
    return _standalone_app


def run_job(target: str, /, *args: Any, **kwargs: Any) -> Any:
    """The function every RQ job calls: run ``target`` (a dotted path) in a fresh app context.

    A fresh context means a fresh ``db.session`` that sees committed data only and is removed
    when the job ends, whatever context the worker itself runs in.
    """
    func = import_attribute(target)
    with _job_app().app_context():
        return func(*args, **kwargs)


class MarketplaceWorker(SimpleWorker):
    """The production worker: jobs run in the worker process, one app and engine pool for all.

    Not forking keeps the database pool and the app built once per worker; RQ still enforces
    job timeouts (SIGALRM in the main thread). Run several worker processes for parallelism.
    """


class _InfoAsDebug(logging.LoggerAdapter):
    """RQ's INFO chatter (registries cleaned, job OK) on every burst would drown a development
    server's log; it goes to DEBUG. Warnings and job errors keep their level."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


class InProcessWorker(MarketplaceWorker):
    """A burst worker for the embedded thread and :func:`run_queued_jobs`.

    It may run outside the main thread, so it installs no signal handlers, times jobs out with
    a timer instead of SIGALRM, skips the pub/sub control channel (that is for long-lived
    workers), and leaves the process's logging configuration alone.
    """

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.jobs_run = 0
        self.log = _InfoAsDebug(self.log, {})

    def _install_signal_handlers(self) -> None:
        pass

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        self.register_birth()
        self.set_state(WorkerStatus.STARTED)

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.jobs_run += 1
        super().execute_job(job, queue)


def run_queued_jobs(app: Flask | None = None) -> int:
    """Run every job queued on every queue now, in this thread; return how many ran.

    Jobs those jobs enqueue run too. Failed jobs count as run (they land in the failed list).
    Works against real Redis and the embedded fake alike.
    """
    app = app or current_app._get_current_object()
    with app.app_context():
        worker = InProcessWorker(list(QUEUES), connection=get_redis(app))
        worker.work(burst=True)
        return worker.jobs_run


def run_worker(queue_names: Sequence[str], *, burst: bool = False,
               drain_interval: float = DRAIN_INTERVAL_SECONDS) -> int | None:
    """Run a worker on ``queue_names`` in the current app context (``flask marketplace worker``).

    Pending outbox rows are pushed first, then every ``drain_interval`` seconds from a helper
    thread, so jobs a Redis hiccup left behind are delivered without anyone watching. With
    ``burst`` it runs what is queued, then returns how many jobs ran.
    """
    app = current_app._get_current_object()
    drain_outbox()
    if burst:
        worker = InProcessWorker(list(queue_names), connection=get_redis(app))
        worker.work(burst=True)
        return worker.jobs_run
    stop = threading.Event()
    threading.Thread(target=_drain_loop, args=(app, stop, drain_interval),
                     name="outbox-drainer", daemon=True).start()
    try:
        MarketplaceWorker(list(queue_names), connection=get_redis(app)).work()
    finally:
        stop.set()
    return None


def _drain_loop(app: Flask, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            with app.app_context():
                drain_outbox()
        except Exception:  # the worker must outlive a database blip; the next round retries
            log.warning("Draining the job outbox failed", exc_info=True)


# --- The outbox ----------------------------------------------------------------------------

def drain_outbox(limit: int = DRAIN_BATCH) -> int:
    """Push up to ``limit`` pending outbox rows to RQ, oldest first; return how many were pushed.

    Safe to run from many processes at once: on PostgreSQL the rows are locked with
    ``FOR UPDATE SKIP LOCKED``, and everywhere a row is claimed by a conditional update, so
    one row is pushed by one drainer. Stops at the first Redis error (the rest stay pending).
    """
    return _push_pending(ids=None, limit=limit)


def pending_outbox_count() -> int:
    """Outbox rows not yet pushed to Redis."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(_OUTBOX).where(_OUTBOX.c.enqueued_at.is_(None))
    ) or 0


def _push_pending(ids: Iterable[int] | None, limit: int) -> int:
    stmt = (sa.select(_OUTBOX).where(_OUTBOX.c.enqueued_at.is_(None))
            .order_by(_OUTBOX.c.id).limit(limit))
    if ids is not None:
        stmt = stmt.where(_OUTBOX.c.id.in_(list(ids)))
    pushed = 0
    # A connection of its own: this runs after the caller's commit, when its session can't
    # emit SQL, and it must never join (or roll back) the caller's transaction.
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = conn.execute(stmt).all()
        if not rows:
            return 0
        connection = get_redis()
        for row in rows:
            claimed = conn.execute(
                sa.update(_OUTBOX)
                .where(_OUTBOX.c.id == row.id, _OUTBOX.c.enqueued_at.is_(None))
                .values(enqueued_at=utcnow(), attempts=_OUTBOX.c.attempts + 1, last_error=None)
            ).rowcount
            if not claimed:
                continue
            try:
                _enqueue(connection, row)
            except RedisError as exc:
                _release(conn, row.id, exc)
                log.warning("Redis is unreachable; outbox job %s stays pending: %s", row.id, exc)
                break
            except Exception as exc:  # a bad row must not block the ones after it
                _release(conn, row.id, exc)
                log.exception("Could not enqueue outbox job %s", row.id)
                continue
            pushed += 1
    return pushed


def _release(conn: sa.Connection, row_id: int, exc: BaseException) -> None:
    conn.execute(
        sa.update(_OUTBOX).where(_OUTBOX.c.id == row_id)
        .values(enqueued_at=None, last_error=f"{type(exc).__name__}: {exc}"[:2000])
    )


def _describe(func: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    text = f"{func}({', '.join(parts)})"
    return text if len(text) <= 300 else text[:297] + "..."


def _enqueue(connection: Any, row: sa.Row) -> None:
    job_id = row.job_id or f"outbox-{row.id}"
    queue = Queue(row.queue, connection=connection)
    try:
        status = Job.fetch(job_id, connection=connection).get_status(refresh=False)
    except NoSuchJobError:
        status = None
    if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
        return  # the same job still waits to run; it will reload its rows when it does
    if status is not None:
        # The id is reused for new work: the old run must not stay listed as failed/finished.
        for registry in (queue.failed_job_registry, queue.finished_job_registry,
                         queue.canceled_job_registry):
            registry.remove(job_id)
    queue.enqueue_call(
        run_job,
        args=(row.func, *(row.args or [])),
        kwargs=dict(row.kwargs or {}),
        job_id=job_id,
        timeout=JOB_TIMEOUTS.get(row.queue, 600),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        description=_describe(row.func, row.args or [], row.kwargs or {}),
        meta={"target": row.func, "outbox_id": row.id},
    )


# Session listeners: remember the outbox rows each transaction wrote, push them on commit.

def _after_flush(session: sa.orm.Session, flush_context: Any) -> None:
    ids = [obj.id for obj in session.new if isinstance(obj, OutboxJob)]
    if ids:
        session.info.setdefault(_SESSION_KEY, set()).update(ids)


def _after_commit(session: sa.orm.Session) -> None:
    ids = session.info.pop(_SESSION_KEY, None)
    if not ids:
        return
    if not has_app_context():
        log.warning("Outbox jobs %s committed outside an app context; a drain will push them",
                    sorted(ids))
        return
    # Whatever goes wrong here, the caller's data is already committed: report, don't raise.
    try:
        pushed = _push_pending(ids=sorted(ids), limit=len(ids))
    except Exception:
        log.warning("Pushing outbox jobs %s failed; a drain will retry", sorted(ids),
                    exc_info=True)
        return
    if pushed:
        _wake_embedded_worker(current_app._get_current_object())


def _after_transaction_end(session: sa.orm.Session, transaction: Any) -> None:
    # The outermost transaction ended without after_commit taking the ids: a rollback.
    if transaction.parent is None:
        session.info.pop(_SESSION_KEY, None)


_LISTENERS = (
    ("after_flush", _after_flush),
    ("after_commit", _after_commit),
    ("after_transaction_end", _after_transaction_end),
)


# --- Embedded worker thread ----------------------------------------------------------------

_embedded_lock = threading.Lock()
_embedded: dict[str, Any] = {"pid": None, "wake": None}


def _embedded_enabled(app: Flask) -> bool:
    return is_embedded(app) and bool(app.config.get("JOBS_EMBEDDED_WORKER"))


def _ensure_embedded_worker(app: Flask) -> None:
    """Start this process's job thread once (again after a fork: threads don't survive it)."""
    if not _embedded_enabled(app) or _embedded["pid"] == os.getpid():
        return
    with _embedded_lock:
        if _embedded["pid"] == os.getpid():
            return
        wake = threading.Event()
        threading.Thread(target=_embedded_loop, args=(app, wake), name="embedded-jobs",
                         daemon=True).start()
        atexit.register(_run_leftovers, app)
        _embedded.update(pid=os.getpid(), wake=wake)


def _wake_embedded_worker(app: Flask) -> None:
    if _embedded_enabled(app) and _embedded["pid"] == os.getpid():
        _embedded["wake"].set()


def _embedded_loop(app: Flask, wake: threading.Event) -> None:
    last_drain = 0.0
    while True:
        wake.wait(1.0)
        wake.clear()
        try:
            with app.app_context():
                if time.monotonic() - last_drain >= DRAIN_INTERVAL_SECONDS:
                    last_drain = time.monotonic()
                    drain_outbox()
                if _anything_queued(app):
                    run_queued_jobs(app)
        except Exception:  # keep the thread alive; the failure is in the log
            log.exception("The embedded job worker failed; retrying")


def _run_leftovers(app: Flask) -> None:
    # The fake Redis dies with the process: run what is still queued rather than lose it.
    try:
        if _anything_queued(app):
            run_queued_jobs(app)
    except Exception:
        log.exception("Running the remaining embedded jobs at exit failed")


def _anything_queued(app: Flask) -> bool:
    connection = get_redis(app)
    return any(Queue(name, connection=connection).count for name in QUEUES)


# --- What /admin/jobs shows ----------------------------------------------------------------

@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    started: int
    failed: int
    finished: int
    scheduled: int


@dataclass(frozen=True)
class JobSummary:
    id: str
    queue: str
    function: str
    description: str
    status: str
    enqueued_at: dt.datetime | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    error: str | None


def _queues() -> list[Queue]:
    connection = get_redis()
    return [Queue(name, connection=connection) for name in QUEUES]


def queue_stats() -> list[QueueStats]:
    """Per queue: jobs waiting, running, failed, finished (kept a day) and scheduled."""
    return [
        QueueStats(
            name=q.name,
            queued=q.count,
            started=q.started_job_registry.count,
            failed=q.failed_job_registry.count,
            finished=q.finished_job_registry.count,
            scheduled=q.scheduled_job_registry.count,
        )
        for q in _queues()
    ]


def _last_error_line(job: Job) -> str | None:
    result = job.latest_result()
    if result is None or result.type != Result.Type.FAILED or not result.exc_string:
        return None
    lines = [line for line in result.exc_string.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _status_value(job: Job) -> str:
    status = job.get_status(refresh=False)
    return status.value if isinstance(status, JobStatus) else str(status or "")


def _summaries(queue: Queue, job_ids: list[str], *, with_error: bool = False) -> list[JobSummary]:
    jobs = Job.fetch_many(job_ids, connection=queue.connection)
    return [
        JobSummary(
            id=job.id,
            queue=job.origin or queue.name,
            function=job.meta.get("target") or job.func_name or "?",
            description=job.description or "",
            status=_status_value(job),
            enqueued_at=job.enqueued_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            error=_last_error_line(job) if with_error else None,
        )
        for job in jobs
        if job is not None
    ]


def _newest(items: list[JobSummary], limit: int,
            key: Callable[[JobSummary], Any]) -> list[JobSummary]:
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(items, key=lambda s: key(s) or epoch, reverse=True)[:limit]


def failed_jobs(limit: int = 50) -> list[JobSummary]:
    """The ``limit`` most recently failed jobs over all queues, each with its error's last line."""
    found: list[JobSummary] = []
    for queue in _queues():
        ids = queue.failed_job_registry.get_job_ids(0, limit - 1, desc=True)
        found += _summaries(queue, ids, with_error=True)
    return _newest(found, limit, lambda s: s.ended_at or s.enqueued_at)


def active_jobs(limit: int = 50) -> list[JobSummary]:
    """Up to ``limit`` running jobs, then the oldest waiting ones, over all queues."""
    running: list[JobSummary] = []
    waiting: list[JobSummary] = []
    for queue in _queues():
        running += _summaries(queue, queue.started_job_registry.get_job_ids(0, limit - 1))
        waiting += _summaries(queue, queue.get_job_ids(0, limit))
    running = _newest(running, limit, lambda s: s.started_at)
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    waiting.sort(key=lambda s: s.enqueued_at or epoch)
    return (running + waiting)[:limit]


def retry_failed_job(job_id: str) -> bool:
    """Put a failed job back on its queue; False when no failed job has that id (any more)."""
    connection = get_redis()
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    if job.origin not in QUEUES:
        return False
    try:
        Queue(job.origin, connection=connection).failed_job_registry.requeue(job)
    except InvalidJobOperation:
        return False
    if _embedded_enabled(current_app):
        _ensure_embedded_worker(current_app._get_current_object())
        _wake_embedded_worker(current_app._get_current_object())
    return True


def init_app(app: Flask) -> None:
    """Hook the outbox into ``db.session`` (once: the session factory is shared by all apps)."""
    for name, listener in _LISTENERS:
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
