"""Where one storefront page spends its time: ``python -m bench.profile_page PATH``.

Requests PATH in this process through Flask's test client against the bench database and
Redis (``bench.catalog``'s settings; load them first with ``python -m bench.catalog``), after
a few unmeasured requests, under cProfile. Prints the functions that take the time, every SQL
statement of the last request with its duration, the Redis commands, and with ``--explain``
PostgreSQL's plan (EXPLAIN ANALYZE) of each statement.

``--miss`` bumps the catalog generation before every request, so every cache misses (that
also reloads the memoized category tree and exchange rates: two small queries more than a
real miss). A figure from here is one request at a time, without gunicorn or concurrency.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from typing import Any

import click

from bench.catalog import BenchEnv


@click.command()
@click.argument("path")
@click.option("--requests", "count", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--miss", is_flag=True, help="Make every request a cache miss.")
@click.option("--explain", is_flag=True, help="EXPLAIN (ANALYZE, BUFFERS) every statement.")
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True,
              help="Functions to list.")
@click.option("--search-backend", type=click.Choice(["whoosh", "postgres"]), default="whoosh",
              show_default=True)
def main(path: str, count: int, miss: bool, explain: bool, top: int,
         search_backend: str) -> None:
    """Profile one storefront page in-process."""
    from sqlalchemy import event

    from marketplace import create_app
    from marketplace.cache import bump_catalog_generation
    from marketplace.extensions import db
    from marketplace.kv import get_redis

    env = BenchEnv.from_environ(search_backend=search_backend)
    env.apply()
    app = create_app()
    client = app.test_client()
    with app.app_context():
        engine, redis = db.engine, get_redis(app)

    statements: list[tuple[str, Any, float]] = []
    commands: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["profile_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - conn.info.pop("profile_started")
        statements.append((statement, parameters, elapsed))

    execute_command = redis.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        commands.append(" ".join(str(a) for a in args[:2]))
        return execute_command(*args, **kwargs)

    def one() -> float:
        if miss:
            with app.app_context():
                bump_catalog_generation()
        statements.clear()
        commands.clear()
        started = time.perf_counter()
        response = client.get(path, base_url="http://127.0.0.1")
        if response.status_code != 200:
            raise click.ClickException(f"{path} answered {response.status_code}")
        return time.perf_counter() - started

    for _ in range(5):
        one()
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    redis.execute_command = counted
    profiler = cProfile.Profile()
    durations = []
    try:
        profiler.enable()
        for _ in range(count):
            durations.append(one())
        profiler.disable()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        del redis.execute_command

    click.echo(f"{path}: {count} requests{' (cache misses)' if miss else ''}, median "
               f"{statistics.median(durations) * 1000:.1f} ms, "
               f"max {max(durations) * 1000:.1f} ms (includes cProfile's overhead)\n")
    for sort in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
        click.echo(f"--- by {sort} ---")
        click.echo(out.getvalue().split("\n\n", 1)[-1].rstrip() + "\n")

    sql_ms = sum(elapsed for _, _, elapsed in statements) * 1000
    click.echo(f"--- last request: {len(statements)} SQL statements ({sql_ms:.1f} ms), "
               f"{len(commands)} Redis commands: {', '.join(commands) or '-'} ---")
    # One transaction for the plans, rolled back: a SET LOCAL the request made (work_mem...)
    # is replayed so the plans are the ones the request got.
    raw = engine.raw_connection() if explain else None
    try:
        for statement, parameters, elapsed in statements:
            click.echo(f"[{elapsed * 1000:.2f} ms] {' '.join(statement.split())}")
            if raw is None:
                continue
            cursor = raw.cursor()
            verb = statement.lstrip().split(None, 1)[0].upper()
            if verb in ("SELECT", "WITH"):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                click.echo("\n".join("    " + row[0] for row in cursor.fetchall()))
            elif verb == "SET":
                cursor.execute(statement, parameters)
    finally:
        if raw is not None:
            raw.rollback()
            raw.close()


if __name__ == "__main__":
    main()
