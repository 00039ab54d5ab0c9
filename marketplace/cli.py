"""The ``flask marketplace ...`` command group.

Other packages add their commands to ``marketplace_cli`` (seed, create-admin, ...); the job
commands live here because they are the core's plumbing.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from marketplace import jobs
from marketplace.kv import is_embedded

marketplace_cli = AppGroup("marketplace", help="Marketplace operations: seed, workers, admins.")


def _queue_names(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in jobs.QUEUES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(jobs.QUEUES)}"
        )
    return names


@marketplace_cli.command("worker")
@click.option("--queues", "queue_names", default=",".join(jobs.QUEUES), show_default=True,
              callback=_queue_names, help="Comma-separated queues to work on, in priority order.")
@click.option("--burst", is_flag=True,
              help="Run what is queued (after pushing pending outbox rows), then exit.")
@click.option("--drain-interval", type=click.FloatRange(min=0.5),
              default=jobs.DRAIN_INTERVAL_SECONDS, show_default=True,
              help="Seconds between pushes of outbox rows a Redis outage left behind.")
def worker_command(queue_names: list[str], burst: bool, drain_interval: float) -> None:
    """Run an RQ worker for the marketplace's job queues.

    Jobs are delivered at least once, so every job function is written to be idempotent.
    Run as many workers (on as many machines) as the load needs; they share REDIS_URL.
    """
    if is_embedded(current_app) and not burst:
        raise click.UsageError(
            "REDIS_URL is not set, so jobs run inside the web process (embedded mode) and a "
            "separate worker would never see them. Set REDIS_URL to run workers, or use "
            "--burst to run this process's pending outbox jobs once."
        )
    ran = jobs.run_worker(queue_names, burst=burst, drain_interval=drain_interval)
    if burst:
        click.echo(f"Ran {ran} job(s).")


@marketplace_cli.command("drain-outbox")
@click.option("--limit", type=click.IntRange(min=1), default=jobs.DRAIN_BATCH,
              show_default=True, help="Push at most this many rows in one run.")
def drain_outbox_command(limit: int) -> None:
    """Push outbox jobs that are committed but not yet in Redis (workers also do this)."""
    if is_embedded(current_app):
        # Rows pushed into this short-lived process's in-memory Redis would be marked
        # delivered and then vanish with it.
        raise click.UsageError(
            "REDIS_URL is not set: there is no shared Redis to push to. The web process "
            "delivers its own jobs; `flask marketplace worker --burst` runs pending ones here."
        )
    pushed = jobs.drain_outbox(limit=limit)
    click.echo(f"Pushed {pushed} job(s) to Redis; {jobs.pending_outbox_count()} still pending.")
