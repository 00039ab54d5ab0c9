"""The storefront benchmark, end to end: ``python -m bench.run`` (or ``make bench``).

1. Loads the catalog and builds the search index through the job path (``bench.catalog``;
   ``--keep`` reuses what an earlier run loaded).
2. Requests each page once in this process, to pick up what one request costs (SQL
   statements, Redis commands, milliseconds) and to stop early if a page answers an error.
3. Serves ``bench/hello.py`` (the smallest Flask app) and the marketplace (``wsgi:app``, in
   the production configuration: DATABASE_URL, REDIS_URL, SECRET_KEY set; LOG_LEVEL=WARNING)
   with the same gunicorn settings, and for each page drives hello, then the page, with the
   same bounded wrk runs (a warm-up, then the measured run) on loopback. Each page's ratio is
   taken against the hello run just before it, so background load shifts both alike.
4. Prints one table: requests/s, p50/p95/p99, the ratio to hello's requests/s, the target and
   whether it is met, and the in-process costs, so a missed target points at its cause.

It is a script that prints figures, not a test: it exits 0 whatever the figures, and non-zero
only when it could not measure (a page answered an error, a server did not start).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import click

from bench import catalog
from bench.catalog import ROOT, BenchEnv, CatalogSize
from bench.drive import Gunicorn, Load, Measurement, http_get, py_spy_profiler, serve, wrk

# --- The pages and their targets --------------------------------------------------------------

# URLs per list for the cold pages: more than a page can be asked in one measured run, so no
# URL repeats (a repeat would be a cache hit).
COLD_URLS = 30_000
# Requests per page in-process (SQL and Redis counts, milliseconds).
PROBES = 15


@dataclass
class Page:
    name: str
    path: str
    # Minimum share of hello's requests/s, and the highest acceptable p95 (ms), if any.
    min_ratio: float | None = None
    max_p95_ms: float | None = None
    note: str = ""
    # Cold pages: wrk takes these in turn instead of ``path`` (warm-up and measured run get
    # different ones, so the measured run never finds its URL cached).
    paths: list[str] = field(default_factory=list)
    warmup_paths: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f">={self.min_ratio:.0%}")
        if self.max_p95_ms is not None:
            parts.append(f"p95<={self.max_p95_ms:g}ms")
        return " ".join(parts) or "-"


TARGETS = {
    "home": (None, None),
    "category": (0.35, None),
    "product": (0.50, None),
    "search": (0.25, 50.0),
}

# Title words of the seed's catalog that many products share; the one with most visible
# products is searched.
SEARCH_WORDS = ("linen", "leather", "merino", "wireless", "ceramic", "organic", "brass")
# A price bound far above every price: it changes the URL (so the cache misses) and not the
# answer. Prices are in the buyer's currency, major units.
INERT_PRICE_MAX = 10_000_000
VISIBLE = "p.status = 'approved' AND v.status = 'approved'"


def _one(conn: Any, query: str, *params: Any) -> tuple:
    return conn.execute(query, params).fetchone()


def _with(path: str, **params: Any) -> str:
    return path + ("&" if "?" in path else "?") + urlencode(params)


def _cold(page: Page, paths: list[str]) -> Page:
    half = len(paths) // 2
    return Page(f"{page.name}-cold", page.path, page.min_ratio, page.max_p95_ms,
                note="a different URL every request, so the Redis cache misses",
                paths=paths[half:], warmup_paths=paths[:half])


def pick_pages(env: BenchEnv, cold: bool) -> list[Page]:
    """Real URLs from the loaded catalog: the root category with the most visible products
    (filtered by its commonest attribute value and in stock), a visible product with three
    variants in two locations, and the search word with the most hits (in stock only).

    With ``cold``, each page also gets a cold twin that asks different URLs with the same
    answer size: the category and search with an inert ``price_max`` that changes per request,
    the product page over thousands of different products.
    """
    import psycopg

    with psycopg.connect(env.database_url) as conn:
        root_id, root_slug, in_root = _one(conn, f"""
            SELECT c.id, c.slug, count(*) FROM products p JOIN vendors v ON v.id = p.vendor_id
            JOIN categories leaf ON leaf.id = p.category_id
            JOIN categories c ON c.id = coalesce(leaf.parent_id, leaf.id)
            WHERE {VISIBLE} GROUP BY c.id, c.slug ORDER BY count(*) DESC, c.slug LIMIT 1""")
        attribute, value, with_value = _one(conn, f"""
            SELECT kv.key, kv.value, count(DISTINCT p.id)
            FROM products p JOIN vendors v ON v.id = p.vendor_id
            JOIN categories leaf ON leaf.id = p.category_id
            JOIN variants va ON va.product_id = p.id
            CROSS JOIN LATERAL jsonb_each_text(va.attributes) AS kv
            WHERE {VISIBLE} AND coalesce(leaf.parent_id, leaf.id) = %s
            GROUP BY kv.key, kv.value ORDER BY count(DISTINCT p.id) DESC, 1, 2 LIMIT 1""",
                                         root_id)
        product_id, product_slug = _one(conn, f"""
            SELECT p.id, p.slug FROM products p JOIN vendors v ON v.id = p.vendor_id
            WHERE {VISIBLE} AND (SELECT count(*) FROM variants WHERE product_id = p.id) = 3
              AND (SELECT count(*) FROM stock_locations WHERE vendor_id = v.id) = 2
            ORDER BY p.id LIMIT 1""")
        counts = {word: _one(conn, f"""
            SELECT count(*) FROM products p JOIN vendors v ON v.id = p.vendor_id
            WHERE {VISIBLE} AND p.title ILIKE %s""", f"%{word}%")[0] for word in SEARCH_WORDS}
        products = conn.execute(f"""
            SELECT p.id, p.slug FROM products p JOIN vendors v ON v.id = p.vendor_id
            WHERE {VISIBLE} ORDER BY md5(p.id::text) LIMIT %s""", (2 * COLD_URLS,)).fetchall()
    word = max(counts, key=lambda w: (counts[w], w))
    pages = [
        Page("home", "/"),
        Page("category", _with(f"/c/{root_slug}", **{f"attr.{attribute}": value,
                                                      "in_stock": 1}),
             note=f"{in_root:,} visible products in the category, {with_value:,} with "
                  f"{attribute} {value}"),
        Page("product", f"/p/{product_id}-{product_slug}"),
        Page("search", _with("/search", q=word, in_stock=1),
             note=f"{counts[word]:,} visible products have {word!r} in the title"),
    ]
    for page in pages:
        page.min_ratio, page.max_p95_ms = TARGETS[page.name]
    if cold:
        def inert(page: Page) -> list[str]:
            return [_with(page.path, price_max=INERT_PRICE_MAX + n)
                    for n in range(2 * COLD_URLS)]

        pages += [_cold(pages[1], inert(pages[1])),
                  _cold(pages[2], [f"/p/{pid}-{slug}" for pid, slug in products]),
                  _cold(pages[3], inert(pages[3]))]
    return pages


# --- Driving a page -------------------------------------------------------------------------


def drive(base: str, page: Page, load: Load,
          profile: Callable[[], contextlib.AbstractContextManager] | None = None,
          ) -> Measurement:
    """A warm-up run (discarded), then the measured one."""
    if load.warmup:
        wrk(base + page.path, load, load.warmup, page.warmup_paths, f"{page.name}-warmup")
    with profile() if profile else contextlib.nullcontext():
        return wrk(base + page.path, load, load.seconds, page.paths, page.name)


# --- One request, in-process: what it costs ---------------------------------------------------


@dataclass
class Probe:
    status: int
    size: int
    sql: int
    redis: int
    ms: float
    sql_ms: float
    statements: list[str] = field(default_factory=list)


def probe(app: Any, paths: list[str]) -> Probe:
    """Request each of ``paths`` through the test client, in this process. Returns the last
    request's SQL statements and Redis commands, the median milliseconds and the median SQL
    time. Give the same path several times to measure a cache hit, different ones for a miss.
    """
    from sqlalchemy import event

    from marketplace.extensions import db
    from marketplace.kv import get_redis

    counts = {"sql": 0, "redis": 0, "sql_s": 0.0}
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        counts["sql"] += 1
        counts["sql_s"] += time.perf_counter() - conn.info.pop("bench_started")
        statements.append(" ".join(statement.split())[:160])

    with app.app_context():
        engine, client = db.engine, get_redis(app)
    execute_command = client.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts["redis"] += 1
        return execute_command(*args, **kwargs)

    client.execute_command = counted
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    durations, sql_durations = [], []
    try:
        test_client = app.test_client()
        for path in paths:
            counts.update(sql=0, redis=0, sql_s=0.0)
            statements.clear()
            started = time.perf_counter()
            response = test_client.get(path, base_url="http://127.0.0.1")
            durations.append(time.perf_counter() - started)
            sql_durations.append(counts["sql_s"])
            if response.status_code != 200:
                break
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        del client.execute_command
    return Probe(status=response.status_code, size=len(response.data), sql=counts["sql"],
                 redis=counts["redis"], ms=statistics.median(durations) * 1000,
                 sql_ms=statistics.median(sql_durations) * 1000, statements=list(statements))


def route_exists(app: Any, path: str) -> bool:
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    adapter = app.url_map.bind("127.0.0.1")
    try:
        adapter.match(path.split("?", 1)[0], method="GET")
    except NotFound:
        return False
    except MethodNotAllowed:
        return False
    except Exception:  # a redirect (trailing slash) still means the route is there
        return True
    return True


# --- The run --------------------------------------------------------------------------------


@dataclass
class Row:
    page: Page
    measurement: Measurement | None
    probe: Probe | None = None
    skipped: str = ""
    # The hello run just before this page's: the ratio is taken against it, so a neighbour
    # process stealing CPU for a while moves both figures rather than the ratio alone.
    hello: Measurement | None = None
    load_average: float = 0.0
    profile: list[str] = field(default_factory=list)

    def verdict(self) -> tuple[str, str]:
        """(ratio to the paired hello run, PASS/FAIL/-)"""
        if self.measurement is None or self.hello is None:
            return "-", f"SKIP: {self.skipped}"
        hello_rps = self.hello.rps
        ratio = self.measurement.rps / hello_rps if hello_rps else 0.0
        failures = []
        if self.measurement.errors.get("status_errors") or self.measurement.errors.get("timeouts"):
            failures.append("errors")
        if self.page.min_ratio is not None and ratio < self.page.min_ratio:
            failures.append("rps")
        if self.page.max_p95_ms is not None and self.measurement.p95_ms > self.page.max_p95_ms:
            failures.append("p95")
        if self.page.min_ratio is None and self.page.max_p95_ms is None and not failures:
            return f"{ratio:.2f}", "-"
        return f"{ratio:.2f}", "PASS" if not failures else "FAIL (" + ", ".join(failures) + ")"


def print_table(rows: list[Row]) -> None:
    header = ("page", "req/s", "p50 ms", "p95 ms", "p99 ms", "hello r/s", "x hello", "target",
              "result", "SQL/req", "Redis/req", "1 req ms", "KB", "load")
    hellos = [row.hello for row in rows if row.hello is not None]
    lines = [header]
    if hellos:
        rps = sorted(h.rps for h in hellos)
        median = statistics.median(rps)
        lines.append((
            "hello", f"{median:,.0f}",
            f"{statistics.median(h.p50_ms for h in hellos):.1f}",
            f"{statistics.median(h.p95_ms for h in hellos):.1f}",
            f"{statistics.median(h.p99_ms for h in hellos):.1f}",
            f"{rps[0]:,.0f}-{rps[-1]:,.0f}", "1.00", "baseline", "-", "-", "-", "-",
            f"{hellos[0].bytes / max(hellos[0].requests, 1) / 1024:.1f}", "-"))
    for row in rows:
        ratio, result = row.verdict()
        m, p, h = row.measurement, row.probe, row.hello
        lines.append((
            row.page.name,
            f"{m.rps:,.0f}" if m else "-",
            f"{m.p50_ms:.1f}" if m else "-",
            f"{m.p95_ms:.1f}" if m else "-",
            f"{m.p99_ms:.1f}" if m else "-",
            f"{h.rps:,.0f}" if h else "-",
            ratio, row.page.target, result,
            str(p.sql) if p else "-", str(p.redis) if p else "-",
            f"{p.ms:.1f}" if p else "-",
            f"{p.size / 1024:.1f}" if p else "-",
            f"{row.load_average:.1f}" if m else "-",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        click.echo("  ".join(cell.ljust(width) if i in (0, 7, 8) else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(line, widths, strict=True))))
        if number == 0:
            click.echo("  ".join("-" * width for width in widths))


@click.command()
@click.option("--keep", is_flag=True,
              help="Reuse the catalog and index of an earlier run (same size and seed).")
@click.option("--search-backend", type=click.Choice(["whoosh", "postgres"]), default="whoosh",
              show_default=True)
@click.option("--vendors", type=click.IntRange(min=1), default=CatalogSize.vendors,
              show_default=True)
@click.option("--products", type=click.IntRange(min=0), default=CatalogSize.products,
              show_default=True)
@click.option("--seed", type=int, default=CatalogSize.seed, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=Gunicorn.workers,
              show_default=True, help="gunicorn workers (both apps).")
@click.option("--worker-class", type=click.Choice(["sync", "gthread"]),
              default=Gunicorn.worker_class, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=Gunicorn.threads,
              show_default=True, help="Threads per worker (gthread only).")
@click.option("--connections", "-c", type=click.IntRange(min=1), default=Load.connections,
              show_default=True, help="wrk connections.")
@click.option("--wrk-threads", type=click.IntRange(min=1), default=Load.threads,
              show_default=True)
@click.option("--duration", "-d", type=click.IntRange(min=1), default=Load.seconds,
              show_default=True, help="Measured seconds per page.")
@click.option("--warmup", type=click.IntRange(min=0), default=Load.warmup, show_default=True,
              help="Warm-up seconds per page (not measured).")
@click.option("--pages", default="home,category,product,search", show_default=True,
              help="Comma-separated pages to drive.")
@click.option("--cold/--no-cold", default=True, show_default=True,
              help="Also drive category, product and search with a different URL per "
                   "request (cache misses).")
@click.option("--url", "urls", multiple=True, metavar="PAGE=PATH",
              help="Drive PATH for PAGE instead of the picked URL (repeatable); a new PAGE "
                   "name adds a page without a target.")
@click.option("--skip-index", is_flag=True,
              help="Don't build the search index (keep whatever index there is).")
@click.option("--rebuild-index", is_flag=True,
              help="With --keep: build the index anyway (the engine changed).")
@click.option("--log-level", default="WARNING", show_default=True,
              help="The app's LOG_LEVEL; INFO writes one JSON line per request.")
@click.option("--profile", is_flag=True,
              help="Sample the workers with py-spy during each page's run and summarise "
                   "where request time goes (slows them a little).")
@click.option("--show-sql", is_flag=True, help="Print each page's SQL statements.")
def main(keep: bool, search_backend: str, vendors: int, products: int, seed: int,
         workers: int, worker_class: str, threads: int, connections: int, wrk_threads: int,
         duration: int, warmup: int, pages: str, cold: bool, urls: tuple[str, ...],
         skip_index: bool, rebuild_index: bool, log_level: str, profile: bool,
         show_sql: bool) -> None:
    """Load the catalog, build the index, and benchmark the storefront against hello."""
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed (`make bench` installs Debian's wrk)")
    started = time.monotonic()
    env = BenchEnv.from_environ(search_backend=search_backend, log_level=log_level)
    env.apply()
    catalog.prepare(env, CatalogSize(vendors, products, seed), keep, index=not skip_index,
                    rebuild_index=rebuild_index)
    settings = Gunicorn(workers, worker_class, threads)
    load = Load(wrk_threads, connections, duration, warmup)

    wanted = [name.strip() for name in pages.split(",") if name.strip()]
    overrides = dict(url.split("=", 1) for url in urls)
    chosen = [page for page in pick_pages(env, cold)
              if page.name.removesuffix("-cold") in wanted]
    for name, path in overrides.items():
        page = next((p for p in chosen if p.name == name), None)
        if page is None:
            chosen.append(Page(name, path))
        else:
            page.path, page.note = path, "given with --url"

    from marketplace import create_app
    from marketplace.cache import bump_catalog_generation

    app = create_app()
    # Start from empty caches: entries an earlier run left (within their TTL) would make the
    # cold pages' URLs hits, here and under gunicorn.
    with app.app_context():
        bump_catalog_generation()
    rows = []
    for page in chosen:
        if not route_exists(app, page.path):
            rows.append(Row(page, None, skipped="no such route yet"))
            continue
        result = probe(app, page.warmup_paths[:PROBES] or [page.path] * PROBES)
        if result.status != 200:
            raise click.ClickException(f"{page.name} {page.path} answered {result.status}")
        rows.append(Row(page, None, probe=result))

    click.echo("")
    click.echo(f"Serving with {settings.describe()}, on loopback; wrk -t{load.threads} "
               f"-c{load.connections}, {load.warmup} s warm-up + {load.seconds} s measured "
               f"per page; LOG_LEVEL={env.log_level}; search backend {env.search_backend}")
    hello_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    app_env = {**os.environ, **env.environ()}
    hello_page = Page("hello", "/")
    with serve(settings, "bench.hello:app", hello_env, "/", "gunicorn-hello") as (hello, _), \
            serve(settings, "wsgi:app", app_env, "/healthz", "gunicorn-app") as (base, server):
        for row in rows:
            if row.probe is None:
                continue
            status, _ = http_get(base + (row.page.paths or [row.page.path])[0])
            if status != 200:
                raise click.ClickException(f"{row.page.name} answered {status} under gunicorn")
            # Hello, then the page, back to back: the ratio compares runs seconds apart.
            row.hello = drive(hello, hello_page, load)
            profiler = (py_spy_profiler(server.pid, row.page.name, row.profile)
                        if profile else None)
            row.measurement = drive(base, row.page, load, profiler)
            row.load_average = os.getloadavg()[0]
            click.echo(f"  {row.page.name}: {row.measurement.rps:,.0f} req/s "
                       f"(hello {row.hello.rps:,.0f})")

    click.echo("")
    print_table(rows)
    click.echo("")
    for row in rows:
        note = f"  ({row.page.note})" if row.page.note else ""
        if row.page.paths:
            example = row.page.paths[0]
            click.echo(f"  {row.page.name:<13} {len(row.page.paths):,} URLs like {example}{note}")
        else:
            click.echo(f"  {row.page.name:<13} {row.page.path}{note}")
        m = row.measurement
        if m and m.errors:
            click.echo(f"                wrk errors: {m.errors}")
        if m and m.paths and m.requests > m.paths:
            click.echo(f"                {m.requests:,} requests over {m.paths:,} URLs: some "
                       "were cache hits (raise COLD_URLS)")
        if row.probe:
            click.echo(f"                one request in-process: {row.probe.ms:.1f} ms, of which "
                       f"SQL {row.probe.sql_ms:.1f} ms in {row.probe.sql} statements, "
                       f"{row.probe.redis} Redis commands")
            if show_sql:
                for statement in row.probe.statements:
                    click.echo(f"                  {statement}")
        for line in row.profile:
            click.echo(line)
    click.echo("\n  hello r/s: the hello run just before the page's, which its ratio is taken "
               "against (the hello row: median, and the range of those runs)")
    click.echo("  load: the 1-minute load average after the page's run (2 cores; wrk, gunicorn, "
               "PostgreSQL and Redis count, and so does anything else running)")
    click.echo(f"\nWhole run: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
