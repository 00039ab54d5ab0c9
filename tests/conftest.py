"""Test fixtures: a real database built through the migrations, real Redis, real forms.

Two backends, chosen by TEST_BACKEND:
- ``postgres`` (default): a fresh PostgreSQL database per test process, created from
  TEST_POSTGRES_URL, and jobs through the Redis server at TEST_REDIS_URL.
- ``sqlite``: the embedded default, a SQLite file and the in-process fake Redis.

With CI=true a missing PostgreSQL or Redis fails the run; elsewhere it skips with a reason.
"""

from __future__ import annotations

import contextvars
import os
import re
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from marketplace import create_app
from marketplace.extensions import db
from tests.fakes.network import block_non_loopback

BACKEND = os.environ.get("TEST_BACKEND", "postgres")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session", autouse=True)
def _loopback_only() -> Iterator[None]:
    """No test may reach the network: connections to non-loopback addresses raise."""
    with block_non_loopback():
        yield


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.exit(f"CI requires it, but {reason}", returncode=3)
    pytest.skip(reason)


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(re.sub(r"\D", "", worker) or 0)


@pytest.fixture(scope="session")
def backend_urls(tmp_path_factory) -> Iterator[dict[str, str | None]]:
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("db") / "marketplace.db"
        yield {"database": f"sqlite:///{path}", "redis": None}
        return
    admin_url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        _unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
    # Each xdist worker gets its own Redis database number (1..15), so flushes don't collide.
    redis_url = f"{REDIS_URL.rstrip('/')}/{1 + _worker_index() % 15}"
    try:
        redis_lib.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis_lib.exceptions.ConnectionError as exc:
        _unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    name = f"marketplace_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield {"database": f"{base}/{name}", "redis": redis_url}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose requests run like a real server's: in their own app context.

    Flask reuses an already pushed app context for a request, which would let ``g`` (the
    logged-in user, the locale) and the database session leak between requests and the test.
    Each request runs in an empty context instead, and afterwards the test's session forgets
    what it loaded so it re-reads what the request committed.
    """

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def app(backend_urls, tmp_path_factory) -> Iterator[Flask]:
    os.environ["INSTANCE_PATH"] = str(tmp_path_factory.mktemp("instance"))
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": backend_urls["database"],
            "REDIS_URL": backend_urls["redis"],
            "JOBS_EMBEDDED_WORKER": False,
            # The test client talks plain HTTP; production keeps Secure cookies on.
            "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_SECURE": False,
            "SERVER_NAME": "localhost",
            # Every request asks Redis for the catalog generation, so a test sees an index
            # write at once (tests/buyers/test_caching.py covers the per-process layer).
            "CATALOG_CACHE_LOCAL_SECONDS": 0,
        }
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        # The schema is built through the Alembic migrations, so a broken migration fails here.
        from flask_migrate import upgrade

        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def _clean(app: Flask) -> None:
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
        # Reference data the migrations insert, as a fresh install has it.
        from marketplace.fx import STARTING_RATES, ExchangeRate

        conn.execute(sa.insert(ExchangeRate), [
            {"currency": code, "per_base_micro": micro} for code, micro in STARTING_RATES.items()
        ])
        from marketplace.tax import STARTING_TAX_RATES, TaxRate

        conn.execute(sa.insert(TaxRate), [
            {"country": country, "rate_bp": rate_bp, "inclusive": inclusive, "name": name}
            for country, rate_bp, inclusive, name in STARTING_TAX_RATES
        ])
    from marketplace.kv import get_redis

    get_redis(app).flushdb()


@pytest.fixture(autouse=True)
def _isolate(request) -> Iterator[None]:
    """Every test that touches the app starts from empty tables and an empty Redis."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    yield
    _clean(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf-token" content="([^"]*)"')


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a browser would use for a form on a page, so forms are posted like a
    user does: the page's own, or, on a page the page cache served without one (a visitor
    without a session), the one the page's script fetches from /csrf-token."""
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    if match.group(1):
        return match.group(1)
    return client.get("/csrf-token").get_json()["csrf_token"]


@pytest.fixture
def post_form(client: FlaskClient):
    """POST a form with a valid CSRF token, as the browser would after loading the page."""

    def post(path: str, data: dict | None = None, **kwargs):
        payload = dict(data or {})
        payload.setdefault("csrf_token", csrf_token(client))
        return client.post(path, data=payload, **kwargs)

    return post
