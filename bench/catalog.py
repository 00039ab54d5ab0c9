"""A benchmark-sized catalog in its own PostgreSQL database, and its search index.

``python -m bench.catalog`` (also step one of ``python -m bench.run``):

1. drops and creates the bench database (``marketplace_bench`` next to ``BENCH_POSTGRES_URL``)
   and migrates it with Flask-Migrate, as ``flask db upgrade`` does;
2. loads 1,000 approved vendors and 200,000 products with 1-3 variants each, their stock in
   one or two locations per vendor, with PostgreSQL COPY (one COPY per table per batch of
   vendors), behind a progress bar, and prints the load time;
3. builds the search index through the job path: an outbox row for
   ``vendors.search.rebuild_index`` on the ``search`` queue, committed, then
   ``flask marketplace worker --burst --queues search`` in a process of its own, and prints the
   build time and rate.

The titles, prices and variant axes come from the demo seed's ``CATALOG`` (``marketplace.admin
.seed``), so search words and facets behave as on a seeded site. Each vendor draws from a
``random.Random`` of its own, so the same seed and size always give the same catalog. Vendor
sizes are skewed like a real marketplace (a few big shops, a long tail of small ones).

Figures are kept in ``bench/.work/state-<database>.json`` so ``--keep`` can reuse a loaded
catalog and index (and still print what loading them took).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = Path(__file__).resolve().parent / ".work"

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# A database number of its own on the `make services` Redis, so queues never mix with a
# developer's; BENCH_REDIS_URL points elsewhere.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_DATABASE = "marketplace_bench"
REBUILD_JOB = "vendors.search.rebuild_index"
REBUILD_JOB_ID = "bench-rebuild-index"

VENDORS_PER_BATCH = 50
OUT_OF_STOCK_SHARE = 0.10


# --- Where the benchmark runs ---------------------------------------------------------------


@dataclass(frozen=True)
class BenchEnv:
    """The bench's database, Redis and index directory, and the environment the app gets."""

    postgres_url: str = DEFAULT_POSTGRES_URL
    database: str = DEFAULT_DATABASE
    redis_url: str = DEFAULT_REDIS_URL
    search_backend: str = "whoosh"
    log_level: str = "WARNING"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))

    @classmethod
    def from_environ(cls, **overrides: Any) -> BenchEnv:
        values = {
            "postgres_url": os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
            "database": os.environ.get("BENCH_DATABASE") or DEFAULT_DATABASE,
            "redis_url": os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "bench" not in values["database"]:
            # This database is dropped and recreated: never let a typo point it at real data.
            raise click.UsageError(f"the bench database's name must contain 'bench', "
                                   f"not {values['database']!r}")
        return cls(**values)

    def _url(self, database: str) -> str:
        url = make_url(self.postgres_url).set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    @property
    def database_url(self) -> str:
        return self._url(self.database)

    @property
    def index_dir(self) -> Path:
        return WORK_DIR / f"search-index-{self.database}-{self.search_backend}"

    def environ(self) -> dict[str, str]:
        """The production configuration (README "Production"), pointed at the bench's services.

        LOG_LEVEL defaults to WARNING: at INFO every request writes a JSON log line to stderr,
        and on two cores that line would be measured as much as the page.
        """
        return {
            "FLASK_APP": "wsgi",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": self.secret_key,
            "SEARCH_BACKEND": self.search_backend,
            "SEARCH_INDEX_DIR": str(self.index_dir),
            "INSTANCE_PATH": str(WORK_DIR / "instance"),
            "LOG_LEVEL": self.log_level,
        }

    def apply(self) -> None:
        """Put ``environ()`` into this process's environment (create_app reads it)."""
        os.environ.update(self.environ())


def _state_file(env: BenchEnv) -> Path:
    return WORK_DIR / f"state-{env.database}.json"


def load_state(env: BenchEnv) -> dict[str, Any]:
    try:
        return json.loads(_state_file(env).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def save_state(env: BenchEnv, state: dict[str, Any]) -> None:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    _state_file(env).write_text(json.dumps(state, indent=2, sort_keys=True))


def database_exists(env: BenchEnv) -> bool:
    with psycopg.connect(env._url(make_url(env.postgres_url).database or "postgres"),
                         autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (env.database,)).fetchone() is not None


def recreate_database(env: BenchEnv) -> None:
    maintenance = env._url(make_url(env.postgres_url).database or "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        name = sql.Identifier(env.database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def migrate(env: BenchEnv) -> None:
    """``flask db upgrade`` on the bench database; its log is shown only when it fails."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                          cwd=ROOT, env={**os.environ, **env.environ()}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise click.ClickException(f"flask db upgrade failed:\n{done.stderr[-3000:]}")


# --- What the catalog holds -----------------------------------------------------------------


@dataclass(frozen=True)
class CatalogSize:
    vendors: int = 1000
    products: int = 200_000
    seed: int = 2024


@dataclass
class Batch:
    """COPY rows for a run of vendors, ids already assigned."""

    vendors: list[tuple] = field(default_factory=list)
    users: list[tuple] = field(default_factory=list)
    memberships: list[tuple] = field(default_factory=list)
    locations: list[tuple] = field(default_factory=list)
    products: list[tuple] = field(default_factory=list)
    variants: list[tuple] = field(default_factory=list)
    stock_levels: list[tuple] = field(default_factory=list)


COLUMNS = {
    "categories": ("id", "parent_id", "name", "slug", "position"),
    "users": ("id", "email", "password_hash", "name", "role", "is_active",
              "password_changed_at", "created_at", "updated_at"),
    "vendors": ("id", "name", "slug", "status", "country", "default_currency", "description",
                "logo", "logo_mime", "created_at", "updated_at"),
    "vendor_memberships": ("id", "user_id", "vendor_id", "role", "created_at", "updated_at"),
    "stock_locations": ("id", "vendor_id", "name", "country", "address", "priority",
                        "created_at", "updated_at"),
    "products": ("id", "vendor_id", "category_id", "title", "slug", "description", "status",
                 "featured", "rating_count", "rating_total", "created_at", "updated_at"),
    "variants": ("id", "vendor_id", "product_id", "sku", "price_minor", "currency",
                 "attributes", "created_at", "updated_at"),
    "stock_levels": ("id", "vendor_id", "variant_id", "location_id", "on_hand", "reserved",
                     "created_at", "updated_at"),
}
BATCH_TABLES = (("vendors", "vendors"), ("users", "users"),
                ("vendor_memberships", "memberships"), ("stock_locations", "locations"),
                ("products", "products"), ("variants", "variants"),
                ("stock_levels", "stock_levels"))


def category_rows() -> tuple[list[tuple], dict[str, int]]:
    """The seed's two-level tree with the seed's slugs; returns rows and leaf name -> id."""
    from marketplace.admin.seed import CATALOG, slugify

    rows: list[tuple] = []
    leaves: dict[str, int] = {}
    ids = itertools.count(1)
    for position, (root_name, kinds) in enumerate(CATALOG.items()):
        root_id = next(ids)
        rows.append((root_id, None, root_name, slugify(root_name), position))
        for child_position, kind in enumerate(kinds):
            leaves[kind.name] = next(ids)
            rows.append((leaves[kind.name], root_id, kind.name,
                         f"{slugify(root_name)}-{slugify(kind.name)}", child_position))
    return rows, leaves


def products_per_vendor(rng: random.Random, vendors: int, products: int) -> list[int]:
    """Split ``products`` over ``vendors``, skewed (Pareto weights), every vendor at least one
    when there are enough; the counts add up to ``products`` exactly (largest remainder)."""
    weights = [min(rng.paretovariate(1.2), 60.0) for _ in range(vendors)]
    floor = 1 if products >= vendors else 0
    spare = products - floor * vendors
    shares = [w / sum(weights) * spare for w in weights]
    counts = [floor + int(share) for share in shares]
    by_remainder = sorted(range(vendors), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for i in by_remainder[: products - sum(counts)]:
        counts[i] += 1
    return counts


class Ids:
    """Primary keys handed out in load order (the database is fresh; sequences are set after)."""

    def __init__(self) -> None:
        self._counters = {table: itertools.count(1) for table in COLUMNS}

    def next(self, table: str) -> int:
        return next(self._counters[table])


def _variant_combos(rng: random.Random, axes: Sequence[tuple[str, tuple[str, ...]]],
                    wanted: int) -> list[dict[str, str]]:
    if not axes:
        return [{}]
    possible = 1
    for _, values in axes:
        possible *= len(values)
    combos: list[tuple] = []
    while len(combos) < min(wanted, possible):
        combo = tuple((axis, rng.choice(values)) for axis, values in axes)
        if combo not in combos:
            combos.append(combo)
    return [dict(combo) for combo in combos]


class Planner:
    """Draws vendors with their catalog and stock as COPY rows.

    Every vendor's draws come from ``random.Random(f"{seed}:{index}")``, so a vendor looks the
    same whatever was drawn before it; ids follow load order.
    """

    def __init__(self, size: CatalogSize, leaf_ids: dict[str, int], password_hash: str,
                 now: dt.datetime):
        from marketplace.admin import seed as demo

        self.demo = demo
        self.size = size
        self.leaf_ids = leaf_ids
        self.password_hash = password_hash
        self.now = now
        self.ids = Ids()
        self.ids.next("users")  # id 1 is the admin
        self.counts = products_per_vendor(random.Random(size.seed), size.vendors, size.products)
        self._names: set[str] = set()
        self._logos: dict[tuple[str, str], bytes] = {}

    def batches(self, vendors_per_batch: int = VENDORS_PER_BATCH) -> Iterator[Batch]:
        for start in range(0, self.size.vendors, vendors_per_batch):
            batch = Batch()
            for index in range(start + 1, min(start + vendors_per_batch, self.size.vendors) + 1):
                self._vendor(batch, index)
            yield batch

    def _logo(self, name: str, colour: str) -> bytes:
        initials = "".join(word[0] for word in name.split() if word[0].isalpha())[:2].upper()
        key = (initials, colour)
        if key not in self._logos:
            self._logos[key] = self.demo.make_logo(initials, colour)
        return self._logos[key]

    def _vendor(self, batch: Batch, index: int) -> None:
        demo, rng, now = self.demo, random.Random(f"{self.size.seed}:{index}"), self.now
        name = " ".join((rng.choice(demo.VENDOR_FIRST), rng.choice(demo.VENDOR_SECOND),
                         rng.choice(demo.VENDOR_SUFFIX)))
        if name in self._names:
            name = f"{name} {index}"
        self._names.add(name)
        code, country_name, currency, cities = demo.COUNTRIES[index % len(demo.COUNTRIES)]
        cities = rng.sample(cities, k=rng.choice((1, 2)))
        vendor_id = self.ids.next("vendors")
        joined = now - dt.timedelta(days=rng.randrange(400, 1500))
        logo = self._logo(name, rng.choice(demo.LOGO_COLOURS)) if rng.random() < 0.85 else None
        batch.vendors.append((
            vendor_id, name, f"{demo.slugify(name)}-{index}", "approved", code, currency,
            f"{name} is an independent shop from {country_name}. "
            + rng.choice(demo.DESCRIPTION_LINES),
            logo, "image/png" if logo else None, joined, joined))
        user_id = self.ids.next("users")
        batch.users.append((
            user_id, f"vendor{index}@bench.example", self.password_hash,
            f"{rng.choice(demo.FIRST_NAMES)} {rng.choice(demo.LAST_NAMES)}", "buyer", True,
            joined, joined, joined))
        batch.memberships.append((self.ids.next("vendor_memberships"), user_id, vendor_id,
                                  "owner", joined, joined))
        locations = []
        for priority, city in enumerate(cities):
            locations.append(self.ids.next("stock_locations"))
            batch.locations.append((locations[-1], vendor_id, f"{city} warehouse", code, "",
                                    priority, joined, joined))

        kinds = [kind for root in rng.sample(sorted(demo.CATALOG), k=rng.choice((1, 2)))
                 for kind in demo.CATALOG[root]]
        for number in range(1, self.counts[index - 1] + 1):
            self._product(batch, rng, vendor_id, name, currency, cities, locations,
                          rng.choice(kinds), number)

    def _product(self, batch: Batch, rng: random.Random, vendor_id: int, vendor_name: str,
                 currency: str, cities: list[str], locations: list[int], kind: Any,
                 number: int) -> None:
        demo = self.demo
        title = kind.pattern.format(adj=rng.choice(kind.adjectives), q=rng.choice(kind.qualifiers),
                                    n=rng.choice(kind.nouns))
        roll = rng.random()
        status = ("draft" if roll < 0.03 else "submitted" if roll < 0.05 else
                  "archived" if roll < 0.06 else "approved")
        rated = status == "approved" and rng.random() < 0.35
        rating_count = min(int(rng.paretovariate(1.0)), 400) if rated else 0
        created = self.now - dt.timedelta(seconds=rng.randrange(365 * 86_400))
        product_id = self.ids.next("products")
        batch.products.append((
            product_id, vendor_id, self.leaf_ids[kind.name], title,
            f"{demo.slugify(title)}-{number}",
            f"{title} by {vendor_name}, shipped from {rng.choice(cities)}. "
            + " ".join(rng.sample(demo.DESCRIPTION_LINES, k=2)),
            status, status == "approved" and rng.random() < 0.02,
            rating_count, rating_count * rng.randint(30, 50) // 10, created, created))

        euros = rng.randint(*kind.price_eur)
        ending = rng.choice(demo.PRICE_ENDINGS)
        sold_out = rng.random() < OUT_OF_STOCK_SHARE
        combos = _variant_combos(rng, kind.axes, rng.choice((1, 2, 2, 3, 3)))
        for variant_number, attributes in enumerate(combos, start=1):
            surcharge = max(1, euros // 10) * rng.choice((0, 0, 0, 1, 2))
            variant_id = self.ids.next("variants")
            batch.variants.append((
                variant_id, vendor_id, product_id, f"{kind.code}-{number:05d}-{variant_number}",
                demo.demo_price_minor(euros + surcharge, ending, currency), currency,
                Jsonb(attributes), created, created))
            for location_id in locations:
                on_hand = 0 if sold_out else rng.choice((0, 1, 2, 3, 5, 8, 12, 20, 35, 60))
                reserved = rng.randint(0, min(on_hand, 2)) if rng.random() < 0.2 else 0
                batch.stock_levels.append((self.ids.next("stock_levels"), vendor_id, variant_id,
                                           location_id, on_hand, reserved, created, created))


# --- Loading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    vendors: int
    products: int
    variants: int
    stock_levels: int
    seed: int
    load_seconds: float
    analyze_seconds: float
    database_mb: float


def _copy(cursor: psycopg.Cursor, table: str, rows: Iterable[tuple]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table])))
    written = 0
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _set_sequences(cursor: psycopg.Cursor) -> None:
    # Rows went in with explicit ids: move each id sequence past them so the app can insert.
    for table in COLUMNS:
        cursor.execute(sql.SQL(
            "SELECT setval(pg_get_serial_sequence({t}, 'id'), "
            "(SELECT coalesce(max(id), 0) + 1 FROM {i}), false)"
        ).format(t=sql.Literal(table), i=sql.Identifier(table)))


def load_catalog(env: BenchEnv, size: CatalogSize) -> LoadReport:
    """Write the catalog into the freshly migrated bench database, in one transaction."""
    from werkzeug.security import generate_password_hash

    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    # Every bench account shares one scrypt hash: hashing 1,001 passwords would take minutes.
    password_hash = generate_password_hash(secrets.token_urlsafe(16), method="scrypt")
    categories, leaf_ids = category_rows()
    planner = Planner(size, leaf_ids, password_hash, now)
    totals = dict.fromkeys(COLUMNS, 0)
    with psycopg.connect(env.database_url) as conn, conn.cursor() as cursor:
        totals["categories"] = _copy(cursor, "categories", categories)
        totals["users"] += _copy(cursor, "users", [(
            1, "admin@bench.example", password_hash, "Bench Admin", "admin", True, now, now, now)])
        with click.progressbar(length=size.products, label="Loading products",
                               show_pos=True, show_percent=True, width=30) as bar:
            for batch in planner.batches():
                for table, attribute in BATCH_TABLES:
                    totals[table] += _copy(cursor, table, getattr(batch, attribute))
                bar.update(len(batch.products))
        _set_sequences(cursor)
        conn.commit()
    load_seconds = time.perf_counter() - started

    # A production database has statistics and a visibility map (autovacuum); a freshly
    # loaded one has neither, and the planner would guess. Timed apart from the load.
    started = time.perf_counter()
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        size_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return LoadReport(vendors=totals["vendors"], products=totals["products"],
                      variants=totals["variants"], stock_levels=totals["stock_levels"],
                      seed=size.seed, load_seconds=round(load_seconds, 2),
                      analyze_seconds=round(time.perf_counter() - started, 2),
                      database_mb=round(size_bytes / 2**20, 1))


# --- The search index, through the job path -------------------------------------------------


@dataclass(frozen=True)
class IndexReport:
    backend: str
    documents: int
    job_seconds: float
    worker_seconds: float

    @property
    def rate(self) -> float:
        return self.documents / self.job_seconds if self.job_seconds else 0.0


def visible_products(env: BenchEnv) -> int:
    """Approved products of approved vendors: what the storefront shows and search indexes."""
    with psycopg.connect(env.database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM products p JOIN vendors v ON v.id = p.vendor_id "
            "WHERE p.status = 'approved' AND v.status = 'approved'").fetchone()[0]


def _clear_queues(env: BenchEnv) -> None:
    """Empty the marketplace queues on the bench Redis: a job left from an earlier run (of a
    database since dropped) must not run, or be timed, with this one."""
    from redis import Redis
    from rq import Queue

    from marketplace.jobs import QUEUES

    connection = Redis.from_url(env.redis_url)
    for name in QUEUES:
        Queue(name, connection=connection).empty()


def build_index(env: BenchEnv, job: str = REBUILD_JOB) -> IndexReport:
    """Enqueue ``job`` through the outbox, run a burst worker for the ``search`` queue in a
    process of its own, and time it. Raises ClickException when the job did not finish."""
    from redis import Redis
    from rq.job import Job, JobStatus

    from marketplace import create_app, jobs
    from marketplace.extensions import db

    env.apply()
    _clear_queues(env)
    app = create_app()
    with app.app_context():
        jobs.enqueue_after_commit("search", job, job_id=REBUILD_JOB_ID)
        db.session.commit()  # the after-commit hook pushes the outbox row to Redis
    started = time.perf_counter()
    worker = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "marketplace", "worker", "--burst",
         "--queues", "search"],
        cwd=ROOT, env={**os.environ, **env.environ()}, capture_output=True, text=True)
    worker_seconds = time.perf_counter() - started

    rq_job = Job.fetch(REBUILD_JOB_ID, connection=Redis.from_url(env.redis_url))
    if worker.returncode != 0 or rq_job.get_status() != JobStatus.FINISHED:
        result = rq_job.latest_result()
        detail = (result.exc_string if result is not None and result.exc_string else
                  worker.stderr[-3000:])
        raise click.ClickException(
            f"the index job {job} did not finish (worker exit {worker.returncode}, job "
            f"{rq_job.get_status()}):\n{detail}")
    returned = rq_job.return_value()
    documents = returned if isinstance(returned, int) else visible_products(env)
    job_seconds = (rq_job.ended_at - rq_job.started_at).total_seconds()
    return IndexReport(backend=env.search_backend, documents=documents,
                       job_seconds=round(job_seconds, 2), worker_seconds=round(worker_seconds, 2))


# --- Putting it together --------------------------------------------------------------------


def print_load(report: LoadReport, reused: bool = False) -> None:
    note = " (loaded by an earlier run, reused with --keep)" if reused else ""
    click.echo(
        f"Catalog{note}: {report.vendors:,} vendors, {report.products:,} products, "
        f"{report.variants:,} variants, {report.stock_levels:,} stock levels; "
        f"loaded in {report.load_seconds:.1f} s "
        f"({report.products / report.load_seconds:,.0f} products/s), "
        f"VACUUM ANALYZE {report.analyze_seconds:.1f} s, database {report.database_mb:,.0f} MB")


def print_index(report: IndexReport, reused: bool = False) -> None:
    note = " (built by an earlier run, reused with --keep)" if reused else ""
    click.echo(
        f"Search index{note} ({report.backend}, via the job path): {report.documents:,} "
        f"products in {report.job_seconds:.1f} s in the job = {report.rate:,.0f} products/s; "
        f"worker process {report.worker_seconds:.1f} s wall")


def prepare(env: BenchEnv, size: CatalogSize, keep: bool, job: str = REBUILD_JOB,
            index: bool = True, rebuild_index: bool = False,
            ) -> tuple[LoadReport, IndexReport | None]:
    """Load the catalog and build the index, or reuse both from an earlier run with ``keep``
    when that run loaded the same size and seed into the same database. ``index=False``
    leaves the index as it is; ``rebuild_index`` builds it even when it could be reused."""
    state = load_state(env)
    wanted = {"database": env.database_url, **asdict(size)}
    reuse_catalog = (keep and state.get("catalog_key") == wanted and "catalog" in state
                     and database_exists(env))
    if reuse_catalog:
        load = LoadReport(**state["catalog"])
        print_load(load, reused=True)
    else:
        click.echo(f"Creating database {env.database} and migrating it (flask db upgrade)...")
        recreate_database(env)
        migrate(env)
        load = load_catalog(env, size)
        state = {"catalog_key": wanted, "catalog": asdict(load)}
        save_state(env, state)
        print_load(load)

    if not index:
        click.echo("Search index: not built (--skip-index)")
        return load, None
    built = state.get("index", {}).get(env.search_backend)
    reusable = env.search_backend == "postgres" or env.index_dir.exists()
    if reuse_catalog and built and reusable and not rebuild_index:
        report = IndexReport(**built)
        print_index(report, reused=True)
    else:
        click.echo(f"Building the search index: {job} on the search queue, burst worker...")
        report = build_index(env, job)
        state.setdefault("index", {})[env.search_backend] = asdict(report)
        save_state(env, state)
        print_index(report)
    return load, report


@click.command()
@click.option("--vendors", type=click.IntRange(min=1), default=CatalogSize.vendors,
              show_default=True)
@click.option("--products", type=click.IntRange(min=0), default=CatalogSize.products,
              show_default=True, help="Products in all.")
@click.option("--seed", type=int, default=CatalogSize.seed, show_default=True)
@click.option("--search-backend", type=click.Choice(["whoosh", "postgres"]), default="whoosh",
              show_default=True)
@click.option("--keep", is_flag=True,
              help="Reuse the catalog and index an earlier run loaded, when the size matches.")
@click.option("--skip-index", is_flag=True, help="Load the catalog only.")
@click.option("--rebuild-index", is_flag=True,
              help="With --keep: build the index anyway (the engine changed).")
def main(vendors: int, products: int, seed: int, search_backend: str, keep: bool,
         skip_index: bool, rebuild_index: bool) -> None:
    """Load the benchmark catalog into PostgreSQL and build its search index."""
    env = BenchEnv.from_environ(search_backend=search_backend)
    prepare(env, CatalogSize(vendors, products, seed), keep, index=not skip_index,
            rebuild_index=rebuild_index)


if __name__ == "__main__":
    main()
