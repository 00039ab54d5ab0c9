"""Configuration from environment variables, with documented defaults.

Every setting has a default that works on a laptop with nothing installed (SQLite in the
instance folder, jobs in-process). Production sets DATABASE_URL and REDIS_URL; the code is
the same, only the configuration differs. The README lists every variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# The gettext catalogs live beside the packages, at the top of the project.
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


# A signed Stripe webhook is accepted this long after Stripe signed it (Stripe's default):
# older deliveries, e.g. a captured one replayed, are refused. Not configurable on purpose.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, not {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a number of seconds, not {raw!r}") from None


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver, which is the one we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else a key generated once into the instance folder.

    Never hard-coded: a fresh checkout gets its own random key, and restarts keep sessions.
    Several web machines must share SECRET_KEY through the environment.
    """
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written in full to a private file first, then linked into place: os.link fails when the
    # key file exists, so two processes starting together agree on one key, and neither can
    # read a key file that is created but not yet written.
    draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(draft, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        draft.unlink()
    return key


def build_config(instance_path: str, overrides: dict | None = None) -> dict:
    """Return the Flask config mapping for this process."""
    default_db = "sqlite:///" + str(Path(instance_path) / "marketplace.db")
    config = {
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        ),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        # With no REDIS_URL a development server runs jobs on a thread of its own process.
        "JOBS_EMBEDDED_WORKER": _bool("JOBS_EMBEDDED_WORKER", True),
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_PUBLISHABLE_KEY": os.environ.get("STRIPE_PUBLISHABLE_KEY") or None,
        # Verifies POST /webhooks/stripe (the endpoint's signing secret, whsec_...); the
        # publishable key (pk_...) is what the pay page gives Stripe.js.
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        # Where the Stripe client sends requests (tests point it at a fake Stripe server),
        # and how often it retries a lost answer (with the same idempotency key).
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE") or None,
        "STRIPE_MAX_NETWORK_RETRIES": _int("STRIPE_MAX_NETWORK_RETRIES", 2),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", True),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", True),
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "MAIL_SENDER": os.environ.get("MAIL_SENDER", "marketplace@localhost"),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS_DIR),
        "LANGUAGES": {"en": "English", "de": "Deutsch"},
        "CURRENCIES": ["EUR", "USD", "GBP", "JPY"],
        "DEFAULT_CURRENCY": os.environ.get("DEFAULT_CURRENCY", "EUR"),
        # How long a placed, unpaid order holds its stock before it goes back on sale.
        "CHECKOUT_RESERVATION_MINUTES": _int("CHECKOUT_RESERVATION_MINUTES", 15),
        # A payout claimed longer ago than this with no outcome is resolved by asking the
        # payment provider (longer than a transfer request with its retries can take).
        "PAYOUT_RECONCILE_MINUTES": _int("PAYOUT_RECONCILE_MINUTES", 15),
        # A vendor's earnings move from pending to available this long after the payment.
        "SETTLEMENT_HOLD_DAYS": _int("SETTLEMENT_HOLD_DAYS", 7),
        # How often `flask marketplace scheduler` queues the settlement job and the payout
        # run (payouts/schedule.py); 0 turns one off.
        "SETTLEMENT_EVERY_SECONDS": _int("SETTLEMENT_EVERY_SECONDS", 3600),
        "PAYOUTS_EVERY_SECONDS": _int("PAYOUTS_EVERY_SECONDS", 900),
        "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT": _int("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", 5),
        "LOGIN_MAX_ATTEMPTS_PER_IP": _int("LOGIN_MAX_ATTEMPTS_PER_IP", 30),
        "LOGIN_THROTTLE_WINDOW_SECONDS": _int("LOGIN_THROTTLE_WINDOW_SECONDS", 900),
        "PASSWORD_RESET_MAX_AGE_SECONDS": 3600,
        # "whoosh" (an index directory on this machine) or "postgres" (full-text search in
        # the database, for several web machines).
        "SEARCH_BACKEND": os.environ.get("SEARCH_BACKEND", "whoosh"),
        "SEARCH_INDEX_DIR": os.environ.get("SEARCH_INDEX_DIR")
        or str(Path(instance_path) / "search-index"),
        # Catalog caches: how long a web process trusts its copy of the catalog generation and
        # keeps recent pages in memory (0 = always ask Redis), and how many it keeps.
        "CATALOG_CACHE_LOCAL_SECONDS": _float("CATALOG_CACHE_LOCAL_SECONDS", 1.0),
        "CATALOG_CACHE_LOCAL_ENTRIES": _int("CATALOG_CACHE_LOCAL_ENTRIES", 256),
        # The largest request body read at all (a 413 before reading more); the catalog CSV
        # import (20 MB files) is the largest upload.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 32 * 1024 * 1024),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }
    config["SECRET_KEY"] = load_secret_key(instance_path)
    if overrides:
        config.update(overrides)
    return config
