"""Catalog CSV import speed, through the job path: ``python -m bench.catalog_import``.

For each backend (PostgreSQL and SQLite by default) it builds a fresh database with the
migrations, a vendor with two stock locations, and a CSV of ``--rows`` variants (four sizes
per product, stock in both locations, prices in major units). Then it imports the file twice,
each time the way the portal does: ``vendors.import_jobs.start_import`` stores the file and
commits, which pushes the job through the outbox to Redis, and an in-process RQ worker runs
it (``marketplace.jobs.run_queued_jobs``). The first run creates every product, variant,
stock level and movement; the second changes every price and stock figure (updates, and a
movement per changed level, plus the search reindex job it queues). It prints rows/s for
each, timed from the commit to the worker's end. A figure, not a test: it exits 0 whatever
the time, non-zero only when an import does not finish as ``done``.

PostgreSQL: the database ``marketplace_bench_import`` (dropped and recreated) beside
``BENCH_POSTGRES_URL``; Redis at ``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
SQLite: a file under ``bench/.work/`` and the embedded fake Redis.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import click

from bench.catalog import WORK_DIR, BenchEnv, recreate_database

DATABASE = "marketplace_bench_import"
SIZES = ("S", "M", "L", "XL")
LOCATIONS = ("Berlin", "Hamburg")


def make_csv(rows: int, *, seed: int, category: str) -> bytes:
    """``rows`` variants, four per product, with a price and stock in both locations."""
    rng = random.Random(seed)
    lines = ["product_handle,title,category,description,sku,price,attr:size,"
             + ",".join(f"stock:{name}" for name in LOCATIONS)]
    for n in range(rows):
        product, size = divmod(n, len(SIZES))
        first = size == 0
        lines.append(",".join([
            f"bench-product-{product}",
            f"Bench product {product}" if first else "",
            category if first else "",
            f"\"Made for the import benchmark, batch {seed}.\"" if first else "",
            f"BENCH-{product}-{SIZES[size]}",
            f"{rng.randint(100, 99_999) / 100:.2f}",
            SIZES[size],
            *(str(rng.randint(0, 500)) for _ in LOCATIONS),
        ]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def run_backend(backend: str, rows: int) -> list[tuple[str, float]]:
    from flask_migrate import upgrade

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.jobs import run_queued_jobs
    from marketplace.models import Category
    from vendors import import_jobs
    from vendors.access import ROLE_PERMISSIONS, Actor
    from vendors.import_models import CatalogTransfer, TransferStatus
    from vendors.models import MemberRole, StockLocation, Vendor, VendorStatus

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    if backend == "postgres":
        env = BenchEnv.from_environ(database=DATABASE)
        recreate_database(env)
        database_url, redis_url = env.database_url, env.redis_url
        database_url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        path = WORK_DIR / "import-bench.db"
        path.unlink(missing_ok=True)
        database_url, redis_url = f"sqlite:///{path}", None
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                      "JOBS_EMBEDDED_WORKER": False, "LOG_LEVEL": "WARNING",
                      "SEARCH_INDEX_DIR": str(WORK_DIR / f"import-index-{backend}")})
    results = []
    with app.app_context(), app.test_request_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        from marketplace.kv import get_redis

        get_redis(app).flushdb()
        category = Category(name="Bench", slug="bench-category", position=0)
        vendor = Vendor(name="Bench Imports", slug="bench-imports",
                        status=VendorStatus.APPROVED, country="DE", default_currency="EUR")
        db.session.add_all([category, vendor])
        db.session.flush()
        db.session.add_all([StockLocation(vendor_id=vendor.id, name=name, country="DE",
                                          priority=n) for n, name in enumerate(LOCATIONS)])
        db.session.commit()
        actor = Actor(vendor_id=vendor.id, permissions=ROLE_PERMISSIONS[MemberRole.OWNER])
        for label, seed in (("create", 1), ("update", 2)):
            data = make_csv(rows, seed=seed, category=category.slug)
            transfer = import_jobs.start_import(actor, filename=f"bench-{label}.csv",
                                                data=data, locale="en")
            started = time.perf_counter()
            db.session.commit()
            run_queued_jobs(app)
            elapsed = time.perf_counter() - started
            db.session.expire_all()
            transfer = db.session.get(CatalogTransfer, transfer.id)
            if transfer.status != TransferStatus.DONE:
                raise click.ClickException(
                    f"{backend} {label}: the import ended {transfer.status.value}: "
                    f"{transfer.errors[:3]}")
            click.echo(f"{backend:8} {label:6} {rows:,} rows ({len(data) / 1e6:.1f} MB) in "
                       f"{elapsed:5.1f} s = {rows / elapsed:,.0f} rows/s "
                       f"(created {transfer.created_count:,}, "
                       f"updated {transfer.updated_count:,})")
            results.append((label, elapsed))
        db.session.remove()
        db.engine.dispose()
    return results


@click.command()
@click.option("--rows", default=10_000, show_default=True, help="Variants in the file.")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["postgres", "sqlite"]),
              default=("postgres", "sqlite"), show_default=True)
def main(rows: int, backends: tuple[str, ...]) -> None:
    """Time a catalog CSV import of ROWS variants through the job path."""
    click.echo(f"Catalog import: {rows:,} variants, {rows // len(SIZES):,} products, "
               f"{len(LOCATIONS)} stock locations")
    for backend in backends:
        run_backend(backend, rows)


if __name__ == "__main__":
    main()
