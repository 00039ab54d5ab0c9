# The two commands of the quick start are `make run` and `make test`; every other target is a
# step they take. Configuration comes from the environment (see README "Configuration").

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export FLASK_APP := wsgi

# Tests: PostgreSQL and Redis on loopback by default; CI=true turns "missing" into a failure.
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL    ?= redis://127.0.0.1:6379
export TEST_POSTGRES_URL TEST_REDIS_URL

.PHONY: run test install translations migrate seed services chromium lint \
        i18n-extract i18n-update bench bench-import bench-checkout bench-payouts bench-settlement \
        bench-payout-run clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

translations: install
	$(BIN)/pybabel compile --statistics -d translations

migrate: install
	$(BIN)/flask db upgrade

# The demo's orders log their confirmation emails at INFO; the seed shows warnings and up.
seed: migrate
	LOG_FORMAT=$${LOG_FORMAT:-text} LOG_LEVEL=$${LOG_LEVEL:-WARNING} \
	  $(BIN)/flask marketplace seed --if-empty

# Development server. With REDIS_URL unset, jobs run on a thread inside the server process
# (embedded fake Redis); with REDIS_URL set, a separate RQ worker process is started too.
# Beside it: the sweeper (unpaid orders' stock) and the scheduler, which queues settlement and
# payouts on their intervals (with REDIS_URL unset it runs those jobs in its own process).
# Plain HTTP on loopback, so the session cookie can't be marked Secure here.
run: translations seed
	@echo ""
	@echo "  Marketplace: http://$(HOST):$(PORT)"
	@echo "  Demo logins (password: marketplace-demo): admin@example.com, buyer@example.com, vendor1@example.com"
	@echo ""
	@set -e; \
	$(BIN)/flask marketplace release-expired --every 60 >/dev/null & sweeper=$$!; \
	LOG_FORMAT=$${LOG_FORMAT:-text} $(BIN)/flask marketplace scheduler >/dev/null & scheduler=$$!; \
	worker=; \
	trap 'kill $$sweeper $$scheduler $$worker 2>/dev/null' EXIT INT TERM; \
	if [ -n "$$REDIS_URL" ]; then \
	  $(BIN)/flask marketplace worker & worker=$$!; \
	  echo "  Job worker started (pid $$worker) on $$REDIS_URL"; \
	else \
	  echo "  Jobs run in-process (REDIS_URL unset)"; \
	fi; \
	echo "  Unpaid orders give their stock back after CHECKOUT_RESERVATION_MINUTES (sweeper pid $$sweeper)"; \
	echo "  Settlement and payouts are queued every SETTLEMENT_EVERY_SECONDS / PAYOUTS_EVERY_SECONDS (scheduler pid $$scheduler)"; \
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} LOG_FORMAT=$${LOG_FORMAT:-text} \
	  $(BIN)/flask run --host $(HOST) --port $(PORT) --no-reload

# Start the local PostgreSQL and Redis services when they are installed but stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
	  { command -v pg_ctlcluster >/dev/null && \
	    pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start; } || true
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  { command -v redis-server >/dev/null && \
	    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; } || true
	@for i in 1 2 3 4 5 6 7 8 9 10; do \
	  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done; true

# Headless Chromium for the browser tests (Debian's package; Playwright drives it).
chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Every test: ruff first (seconds; a style break fails like a test), then the whole suite on
# PostgreSQL + Redis (schema built by the migrations), then the whole suite again on the
# embedded default (SQLite + in-process fake Redis).
test: translations services chromium lint
	TEST_BACKEND=postgres $(BIN)/python -m pytest -q -n 2 --dist loadfile
	TEST_BACKEND=sqlite $(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not browser and not postgres_only"

lint: install
	$(BIN)/python -m ruff check .

i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot --no-location --sort-output --project marketplace .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

# The storefront benchmark (bench/README.md): loads 200,000 products into its own database
# (marketplace_bench), builds the search index through the job path, then drives the pages and
# a hello-world app with wrk (Debian's package). BENCH_ARGS passes options, e.g. --keep.
bench: install services
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk for the benchmark..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The catalog CSV import benchmark (bench/README.md): a 10,000-row file for a vendor with two
# stock locations, imported through the job path on PostgreSQL and SQLite; prints rows/s.
bench-import: install services
	$(BIN)/python -m bench.catalog_import $(BENCH_ARGS)

# The checkout benchmark (bench/README.md): buyers with 3-shop carts checking out and paying
# with the sandbox through gunicorn on PostgreSQL, driven from a second process; orders/s.
bench-checkout: install services
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk for the benchmark..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	$(BIN)/python -m bench.checkout $(BENCH_ARGS)

# Payout correctness (bench/README.md): concurrent payout requests against one balance, the
# payout job run concurrently, workers killed between Stripe's answer and the commit.
bench-payouts: install services
	$(BIN)/python -m bench.payout_races $(BENCH_ARGS)

# Settlement at scale (bench/settlement.py): 1,000,000 paid order lines generated in SQL, the
# settlement job's wall time and peak memory, a second (idempotent) run, check-books.
bench-settlement: install services
	$(BIN)/python -m bench.settlement $(BENCH_ARGS)

# The payout run at scale (bench/payout_run.py): 1,000 vendors with an available balance
# generated in SQL, create_due_payouts and every transfer through the sandbox; wall time and
# peak memory. BENCH_ARGS="--workers 2" sends with separate worker processes.
bench-payout-run: install services
	$(BIN)/python -m bench.payout_run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache
