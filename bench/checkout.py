"""The checkout benchmark: ``python -m bench.checkout`` (or ``make bench-checkout``).

1. Recreates the database ``marketplace_bench_checkout`` (beside ``BENCH_POSTGRES_URL``),
   migrates it and seeds three approved shops, each with one product (a million units in
   stock) and a flat shipping rate to Germany, and ``--buyers`` buyers.
2. Serves ``bench/hello.py`` and the marketplace (``wsgi:app``, production configuration,
   sandbox payments) with the same gunicorn settings as the storefront benchmark, plus one
   ``flask marketplace worker`` process for the payment events and emails.
3. Measures hello with wrk (the floor), then drives checkouts from a second process on
   loopback (``python -m bench.checkout drive``): ``--concurrency`` threads, each a buyer at a
   time with its own session: three ``POST /api/v1/cart/lines`` (one per shop),
   ``POST /api/v1/checkout`` (Idempotency-Key), the pay page, and the sandbox's
   ``POST /payments/sandbox/pay`` with the success card, over and over for ``--seconds``.
4. Prints orders/s and the p50/p95 of a whole checkout (cart to paid redirect) and of the
   ``POST /api/v1/checkout`` alone, beside hello's requests/s and p95, and how many orders
   the worker had marked paid when the run ended (after draining).

A script that prints figures, not a test: exits 0 whatever they are, non-zero only when it
could not measure.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import click

from bench.catalog import ROOT, WORK_DIR, BenchEnv, migrate, recreate_database
from bench.drive import Gunicorn, Load, serve, wrk

DATABASE = "marketplace_bench_checkout"
PASSWORD = "bench-checkout-password"
CARD = "4242 4242 4242 4242"
_TOKEN = re.compile(r'name="token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def seed(env: BenchEnv, buyers: int) -> list[int]:
    """Three shops with stock and shipping, and ``buyers`` buyers (in this process); returns
    the three variant ids."""
    env.apply()
    from werkzeug.security import generate_password_hash

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.models import Category, Role, User
    from vendors.models import (
        Product,
        ProductStatus,
        StockLevel,
        StockLocation,
        Variant,
        Vendor,
        VendorStatus,
    )
    from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile

    app = create_app()
    variant_ids = []
    with app.app_context():
        category = Category(name="Bench", slug="bench", position=1)
        db.session.add(category)
        db.session.flush()
        for n, (name, price) in enumerate((("Nordic Goods", 12_900), ("Atelier Lumen", 4_500),
                                           ("Kumo Store", 2_500)), start=1):
            vendor = Vendor(name=name, slug=f"bench-{n}", status=VendorStatus.APPROVED,
                            country="DE", default_currency="EUR")
            db.session.add(vendor)
            db.session.flush()
            product = Product(vendor_id=vendor.id, category_id=category.id,
                              title=f"{name} item", slug=f"item-{n}",
                              status=ProductStatus.APPROVED)
            location = StockLocation(vendor_id=vendor.id, name="Main", country="DE")
            db.session.add_all([product, location])
            db.session.flush()
            variant = Variant(vendor_id=vendor.id, product_id=product.id, sku=f"BENCH-{n}",
                              price_minor=price, currency="EUR", attributes={})
            db.session.add(variant)
            db.session.flush()
            variant_ids.append(variant.id)
            db.session.add(StockLevel(vendor_id=vendor.id, variant_id=variant.id,
                                      location_id=location.id, on_hand=1_000_000))
            profile = ShippingProfile(vendor_id=vendor.id, name="Germany", countries=["DE"],
                                      handling_days=1)
            db.session.add(profile)
            db.session.flush()
            db.session.add(ShippingMethod(vendor_id=vendor.id, profile_id=profile.id,
                                          name="Parcel", kind=RateKind.FLAT, currency="EUR",
                                          base_minor=490, per_kg_minor=0, active=True))
        password_hash = generate_password_hash(PASSWORD)
        db.session.add_all([
            User(email=f"buyer{n}@bench.example", name=f"Buyer {n}", role=Role.BUYER,
                 password_hash=password_hash)
            for n in range(buyers)
        ])
        db.session.commit()
    return variant_ids


def paid_orders(env: BenchEnv) -> tuple[int, int]:
    """(orders, paid orders) in the bench database."""
    import psycopg

    with psycopg.connect(env.database_url) as conn:
        total, paid = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'paid') FROM orders").fetchone()
    return total, paid


# --- The driver (runs in its own process) ----------------------------------------------------


ADDRESS = {"name": "Bench Buyer", "line1": "Hauptstr. 1", "city": "Berlin",
           "postal_code": "10115", "country": "DE"}


@dataclass
class Timings:
    checkouts: list[float]
    place: list[float]
    errors: list[str]


def _log_in(session, base: str, email: str) -> str:
    page = session.get(f"{base}/login", timeout=30).text
    token = _CSRF.search(page).group(1)
    answer = session.post(f"{base}/login", data={"email": email, "password": PASSWORD,
                                                  "csrf_token": token},
                          allow_redirects=False, timeout=30)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"login of {email} answered {answer.status_code}")
    return _CSRF.search(session.get(f"{base}/cart", timeout=30).text).group(1)


def _one_checkout(session, base: str, token: str, variant_ids: list[int],
                  timings: Timings) -> None:
    headers = {"X-CSRFToken": token}
    started = time.perf_counter()
    for variant_id in variant_ids:
        answer = session.post(f"{base}/api/v1/cart/lines", headers=headers, timeout=30,
                              json={"variant_id": variant_id, "quantity": 1})
        if answer.status_code != 201:
            raise RuntimeError(f"add to cart answered {answer.status_code}: {answer.text}")
    place_started = time.perf_counter()
    answer = session.post(f"{base}/api/v1/checkout", json={"address": ADDRESS}, timeout=30,
                          headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
    timings.place.append(time.perf_counter() - place_started)
    if answer.status_code != 201:
        raise RuntimeError(f"checkout answered {answer.status_code}: {answer.text}")
    pay_page = session.get(answer.json()["payment"]["pay_url"], timeout=30).text
    paid = session.post(f"{base}/payments/sandbox/pay", allow_redirects=False, timeout=30,
                        data={"csrf_token": token, "token": _TOKEN.search(pay_page).group(1),
                              "card_number": CARD})
    if paid.status_code not in (302, 303):
        raise RuntimeError(f"sandbox pay answered {paid.status_code}")
    timings.checkouts.append(time.perf_counter() - started)


@click.group(invoke_without_command=True)
@click.option("--buyers", default=64, show_default=True, help="Buyers seeded (and logged in).")
@click.option("--concurrency", default=8, show_default=True, help="Driver threads.")
@click.option("--seconds", default=20, show_default=True, help="Measured checkout run.")
@click.option("--workers", default=3, show_default=True, help="gunicorn workers.")
@click.pass_context
def main(ctx: click.Context, buyers: int, concurrency: int, seconds: int, workers: int) -> None:
    """Checkout throughput on PostgreSQL through gunicorn, beside the hello-app floor."""
    if ctx.invoked_subcommand is not None:
        return
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    env = BenchEnv.from_environ(database=DATABASE)
    click.echo(f"Seeding {DATABASE}: 3 shops, {buyers} buyers...")
    recreate_database(env)
    migrate(env)
    variant_ids = seed(env, buyers)
    settings = Gunicorn(workers=workers)
    # The driver's sessions travel over plain HTTP on loopback (as with `make run`).
    app_env = {**os.environ, **env.environ(), "SESSION_COOKIE_SECURE": "0"}
    hello_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker_log = open(WORK_DIR / "checkout-worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "marketplace",
                               "worker", "--queues", "default,email,search"], cwd=ROOT,
                              env=app_env, stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        with serve(settings, "bench.hello:app", hello_env, "/",
                   "checkout-gunicorn-hello") as (hello, _):
            wrk(hello + "/", Load(), 3)
            floor = wrk(hello + "/", Load(), 10)
        with serve(settings, "wsgi:app", app_env, "/healthz", "gunicorn-checkout") as (base, _):
            driven = subprocess.run(
                [sys.executable, "-m", "bench.checkout", "drive", "--base", base,
                 "--variants", ",".join(map(str, variant_ids)),
                 "--buyers", str(buyers), "--concurrency", str(concurrency),
                 "--seconds", str(seconds)],
                cwd=ROOT, capture_output=True, text=True, env=hello_env)
        if driven.returncode != 0:
            raise click.ClickException(f"the driver failed:\n{driven.stderr[-3000:]}")
        figures = json.loads(driven.stdout.strip().splitlines()[-1])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            total, paid = paid_orders(env)
            if paid >= total:
                break
            time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        worker_log.close()
    _print(settings, floor, figures, concurrency, total, paid)


def _print(settings: Gunicorn, floor, figures: dict, concurrency: int, total: int,
           paid: int) -> None:
    click.echo(f"\n{settings.describe()}, loopback, driver: {concurrency} threads in a "
               f"second process")
    click.echo(f"{'':28} {'rate':>12} {'p50 ms':>9} {'p95 ms':>9}")
    click.echo(f"{'hello (wrk, req/s)':28} {floor.rps:12.1f} {floor.p50_ms:9.1f} "
               f"{floor.p95_ms:9.1f}")
    click.echo(f"{'checkout (orders/s)':28} {figures['orders_per_s']:12.2f} "
               f"{figures['checkout_p50_ms']:9.1f} {figures['checkout_p95_ms']:9.1f}")
    click.echo(f"{'  POST /api/v1/checkout':28} {'':12} {figures['place_p50_ms']:9.1f} "
               f"{figures['place_p95_ms']:9.1f}")
    click.echo(f"\n{figures['orders']} orders in {figures['seconds']:.1f} s "
               f"({figures['requests_per_checkout']} requests each: 3 cart adds, checkout, "
               f"pay page, sandbox pay); errors: {figures['errors'] or 'none'}")
    click.echo(f"Orders paid by the worker after the run: {paid} of {total}")


@main.command("drive")
@click.option("--base", required=True)
@click.option("--variants", required=True, help="The three variant ids, comma-separated.")
@click.option("--buyers", default=64)
@click.option("--concurrency", default=8)
@click.option("--seconds", default=20)
def drive_command(base: str, variants: str, buyers: int, concurrency: int,
                  seconds: int) -> None:
    """The load generator: prints one JSON line of figures."""
    import requests

    variant_ids = [int(v) for v in variants.split(",")]
    timings = Timings([], [], [])
    stop_at = [0.0]
    barrier = threading.Barrier(concurrency + 1)
    go = threading.Event()

    def run(index: int) -> None:
        mine = [n for n in range(buyers) if n % concurrency == index]
        sessions = []
        try:
            for n in mine:
                session = requests.Session()
                sessions.append((session, _log_in(session, base, f"buyer{n}@bench.example")))
        except Exception as error:
            timings.errors.append(f"login: {error}"[:200])
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        go.wait()
        turn = 0
        while time.monotonic() < stop_at[0]:
            session, token = sessions[turn % len(sessions)]
            turn += 1
            try:
                _one_checkout(session, base, token, variant_ids, timings)
            except Exception as error:  # counted and printed, the run goes on
                timings.errors.append(str(error)[:200])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        raise click.ClickException(f"logging the buyers in failed: {timings.errors}") from None
    started = time.monotonic()
    stop_at[0] = started + seconds
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    def pct(values: list[float], q: int) -> float:
        if len(values) < 2:
            return (values[0] * 1000) if values else 0.0
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    click.echo(json.dumps({
        "orders": len(timings.checkouts), "seconds": elapsed,
        "orders_per_s": len(timings.checkouts) / elapsed,
        "checkout_p50_ms": pct(timings.checkouts, 50),
        "checkout_p95_ms": pct(timings.checkouts, 95),
        "place_p50_ms": pct(timings.place, 50), "place_p95_ms": pct(timings.place, 95),
        "requests_per_checkout": 6, "errors": sorted(set(timings.errors))[:5],
    }))


if __name__ == "__main__":
    main()
