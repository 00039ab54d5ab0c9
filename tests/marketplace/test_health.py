"""Health checks, and what a person sees when the database is down."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from marketplace import create_app
from marketplace.extensions import db

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nope"
DEAD_REDIS = "redis://127.0.0.1:1/0"


@contextmanager
def app_with(app: Flask, **overrides) -> Iterator[Flask]:
    """Another app sharing the test app's database and Redis, except for ``overrides``."""
    other = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "JOBS_EMBEDDED_WORKER": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SERVER_NAME": "localhost",
        **overrides,
    })
    try:
        yield other
    finally:
        with other.app_context():
            db.engine.dispose()


def test_healthz_is_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_names_the_database_when_it_is_down(app):
    with app_with(app, SQLALCHEMY_DATABASE_URI=DEAD_DATABASE) as dead:
        response = dead.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "unavailable: OperationalError", "redis": "ok"},
    }


def test_healthz_names_redis_when_it_is_down(app):
    with app_with(app, REDIS_URL=DEAD_REDIS) as dead:
        response = dead.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unavailable: ConnectionError"},
    }


def test_livez_answers_even_when_the_database_and_redis_are_down(app):
    with app_with(app, SQLALCHEMY_DATABASE_URI=DEAD_DATABASE, REDIS_URL=DEAD_REDIS) as dead:
        response = dead.test_client().get("/livez")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def _dead_database_page(app: Flask, *, signed_in: bool):
    with app_with(app, SQLALCHEMY_DATABASE_URI=DEAD_DATABASE) as dead:
        browser = dead.test_client()
        if signed_in:
            with browser.session_transaction() as session:
                session["_user_id"] = "1"
                session["_fresh"] = True
        return browser.get("/", headers={"Accept": "text/html"})


def test_the_home_page_says_the_database_cannot_be_reached_when_it_is_down(app):
    response = _dead_database_page(app, signed_in=False)

    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "The database can&#39;t be reached right now." in page
    assert response.headers["Retry-After"] == "30"
    assert "Traceback" not in page


def test_a_signed_in_visitor_also_gets_the_503_page_when_the_database_is_down(app):
    # Loading their account from the session needs the database too.
    response = _dead_database_page(app, signed_in=True)

    assert response.status_code == 503
    assert "The database can&#39;t be reached right now." in response.get_data(as_text=True)


def test_an_api_call_needing_the_database_is_a_json_503_when_it_is_down(app):
    with app_with(app, SQLALCHEMY_DATABASE_URI=DEAD_DATABASE) as dead:
        response = dead.test_client().get("/api/v1/categories")

    assert response.status_code == 503
    assert response.json["error"]["status"] == 503
    assert response.json["error"]["message"].startswith("The database can't be reached right now.")
