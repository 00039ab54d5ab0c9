"""Settlement at scale: ``python -m bench.settlement`` (or ``make bench-settlement``).

Recreates the database ``marketplace_bench_settlement`` (beside ``BENCH_POSTGRES_URL``),
migrates it and generates, set-based in SQL (``generate_series``, nothing goes through
Python), ``--lines`` paid order lines: orders of 2 sub-orders of 4 lines for 1,000 vendors,
each sub-order with its capture transaction in the ledger (cash -> tax, commission, vendor
pending). 90% of the orders were paid 8 days ago (past the 7-day hold), the rest today.

Then it runs the settlement job (``payouts.settlement.settle_due``, what ``flask marketplace
settle`` and the ``settlement`` queue run) in a fresh process and prints its wall time, the
process's peak resident memory before and after the run, the sub-orders settled; then runs it
a second time (nothing left to settle: the idempotent re-run's cost) and ``check-books``.

Target: 1,000,000 lines settled in under 60 s, memory that does not grow with the lines
(compare ``--lines 100000``). A script that prints figures, not a test: exits 0 whatever they
are, non-zero only when it could not measure.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import click
import psycopg

from bench.catalog import ROOT, BenchEnv, migrate, recreate_database

DATABASE = "marketplace_bench_settlement"
LINES_PER_SUB_ORDER = 4
SUB_ORDERS_PER_ORDER = 2
VENDORS = 1_000

# Each line: €10.00 net + €1.90 VAT (included); a sub-order: €47.60 of which €7.60 VAT,
# €4.00 commission (10%), €36.00 the vendor's.
GENERATE = """
INSERT INTO users (email, password_hash, name, role, is_active, password_changed_at)
VALUES ('buyer@bench.example', 'x', 'Bench Buyer', 'buyer', true, now());

INSERT INTO vendors (name, slug, status, country, default_currency, description)
SELECT 'Vendor ' || v, 'vendor-' || v, 'approved', 'DE', 'EUR', ''
FROM generate_series(1, {vendors}) AS v;

INSERT INTO orders (id, number, buyer_id, idempotency_key, email, status, currency,
                    items_minor, shipping_minor, tax_minor, total_minor, tax_inclusive,
                    fx_rates, shipping_address, expires_at, paid_at)
SELECT o, 'B' || lpad(o::text, 9, '0'), 1, 'bench-' || o, 'buyer@bench.example', 'paid',
       'EUR', 9520, 0, 1520, 9520, true, '{{}}', '{{}}', now(),
       CASE WHEN o % 10 = 0 THEN now() ELSE now() - interval '8 days' END
FROM generate_series(1, {orders}) AS o;

INSERT INTO sub_orders (id, order_id, vendor_id, status, currency, items_minor,
                        shipping_minor, tax_minor, total_minor, shipping_method,
                        status_changed_at)
SELECT s, (s + 1) / 2, s % {vendors} + 1, 'paid', 'EUR', 4760, 0, 760, 4760, '{{}}', now()
FROM generate_series(1, {sub_orders}) AS s;

INSERT INTO order_lines (order_id, sub_order_id, vendor_id, title, sku, attributes, quantity,
                         vendor_unit_price_minor, vendor_currency, unit_price_minor,
                         net_minor, tax_minor, total_minor, tax_rate_bp, commission_bp,
                         commission_fixed_minor, commission_minor)
SELECT ((l - 1) / 4 + 1 + 1) / 2, (l - 1) / 4 + 1, ((l - 1) / 4 + 1) % {vendors} + 1,
       'Item', 'SKU-' || l, '{{}}', 1, 1190, 'EUR', 1190, 1000, 190, 1190, 1900, 1000, 0, 100
FROM generate_series(1, {lines}) AS l;

INSERT INTO ledger_accounts (id, owner, vendor_id, kind, currency, created_at) VALUES
  (1, 'platform', NULL, 'provider_cash', 'EUR', now()),
  (2, 'platform', NULL, 'tax_payable', 'EUR', now()),
  (3, 'platform', NULL, 'commission_revenue', 'EUR', now());
INSERT INTO ledger_accounts (id, owner, vendor_id, kind, currency, created_at)
SELECT 3 + v, 'vendor-' || v, v, 'vendor_pending', 'EUR', now()
FROM generate_series(1, {vendors}) AS v;

INSERT INTO ledger_transactions (id, kind, idempotency_key, order_id, sub_order_id, vendor_id,
                                 memo, created_at)
SELECT s, 'payment_captured', 'capture:sub_order:' || s, (s + 1) / 2, s, s % {vendors} + 1,
       '', now()
FROM generate_series(1, {sub_orders}) AS s;

INSERT INTO ledger_postings (transaction_id, debit_account_id, credit_account_id,
                             amount_minor, currency)
SELECT s, 1, part.account, part.amount, 'EUR'
FROM generate_series(1, {sub_orders}) AS s
CROSS JOIN LATERAL (VALUES (2, 760), (3, 400), (3 + s % {vendors} + 1, 3600))
  AS part(account, amount);
"""

SEQUENCES = ("users", "vendors", "orders", "sub_orders", "order_lines", "ledger_accounts",
             "ledger_transactions", "ledger_postings")


def _generate(env: BenchEnv, lines: int) -> float:
    sub_orders = lines // LINES_PER_SUB_ORDER
    orders = sub_orders // SUB_ORDERS_PER_ORDER
    sql = GENERATE.format(vendors=VENDORS, orders=orders, sub_orders=orders * 2,
                          lines=orders * 2 * LINES_PER_SUB_ORDER)
    started = time.perf_counter()
    with psycopg.connect(env.database_url) as conn:
        conn.execute(sql)
        for table in SEQUENCES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def _measure(env: BenchEnv, step: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.settlement", "run-step", step],
                          cwd=ROOT, env={**os.environ, **env.environ()}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@click.group(invoke_without_command=True)
@click.option("--lines", default=1_000_000, show_default=True, help="Order lines to settle.")
@click.pass_context
def main(ctx: click.Context, lines: int) -> None:
    if ctx.invoked_subcommand is not None:
        return
    env = BenchEnv.from_environ(database=DATABASE)
    recreate_database(env)
    migrate(env)
    generated = _generate(env, lines)
    click.echo(f"Generated {lines:,} paid order lines "
               f"({lines // LINES_PER_SUB_ORDER:,} sub-orders, {VENDORS:,} vendors) "
               f"in {generated:.1f} s.")
    first = _measure(env, "settle")
    click.echo(f"Settlement: {first['settled']:,} sub-orders in {first['batches']} batches, "
               f"{first['seconds']:.1f} s wall; peak RSS {first['rss_before_mb']:.0f} MB "
               f"before -> {first['rss_peak_mb']:.0f} MB after.")
    again = _measure(env, "settle")
    click.echo(f"Second run (nothing due): {again['settled']:,} settled in "
               f"{again['seconds']:.1f} s; peak RSS {again['rss_peak_mb']:.0f} MB.")
    books = _measure(env, "check-books")
    click.echo(f"check-books: {books['broken']} broken check(s) in {books['seconds']:.1f} s.")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@main.command("run-step", hidden=True)
@click.argument("step", type=click.Choice(["settle", "check-books"]))
def run_step(step: str) -> None:
    """(internal) One measured step in this fresh process; prints one JSON line."""
    import sqlalchemy as sa

    from marketplace import create_app
    from marketplace.extensions import db

    app = create_app()
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        before = _rss_mb()
        started = time.perf_counter()
        if step == "settle":
            from payouts.settlement import settle_due

            run = settle_due()
            result = {"settled": run.settled, "batches": run.batches}
        else:
            from payouts.books import check_books

            result = {"broken": sum(1 for check in check_books() if not check.ok)}
        result.update(seconds=time.perf_counter() - started, rss_before_mb=before,
                      rss_peak_mb=_rss_mb())
    click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
