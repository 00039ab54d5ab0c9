"""Structured logs: the JSON line format, one line per request, and the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest
from flask import Flask, g
from flask_login import login_user

from marketplace import create_app
from marketplace.extensions import db
from marketplace.logs import (
    JSONFormatter,
    TextFormatter,
    configure_logging,
)
from marketplace.models import User
from tests.factories import make_user

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "marketplace.request"]


@pytest.fixture
def restore_logging(app: Flask) -> Iterator[None]:
    """Logging is process-wide: put back the test app's settings after building another app."""
    yield
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])


def _other_app(app: Flask, **overrides) -> Flask:
    return create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "JOBS_EMBEDDED_WORKER": False,
        "SESSION_COOKIE_SECURE": False,
        "SERVER_NAME": "localhost",
        **overrides,
    })


def _marketplace_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger("marketplace").handlers
            if getattr(h, "marketplace", False)]


# --- one line per request ----------------------------------------------------------------


def test_each_request_logs_one_structured_line(client, caplog):
    caplog.set_level(logging.INFO, logger="marketplace.request")

    response = client.get("/api/v1/categories?page=1", headers={"X-Request-ID": "trace-42"})

    [record] = request_records(caplog)
    assert record.levelname == "INFO"
    assert record.getMessage() == "GET /api/v1/categories 200"
    assert (record.method, record.path, record.status) == ("GET", "/api/v1/categories", 200)
    assert record.request_id == "trace-42" == response.headers["X-Request-ID"]
    assert record.user_id is None
    assert record.remote_addr == "127.0.0.1"
    assert isinstance(record.duration_ms, float) and record.duration_ms >= 0


def test_error_answers_are_logged_with_their_status(client, caplog):
    caplog.set_level(logging.INFO, logger="marketplace.request")

    client.get("/api/v1/nope")

    [record] = request_records(caplog)
    assert (record.path, record.status) == ("/api/v1/nope", 404)


def test_the_request_line_names_the_signed_in_user(app, caplog, restore_logging):
    user = make_user()
    db.session.commit()
    other = _other_app(app)

    @other.get("/test-sign-in/<int:user_id>")
    def sign_in(user_id: int):
        login_user(db.session.get(User, user_id))
        return "signed in"

    caplog.set_level(logging.INFO, logger="marketplace.request")
    with other.app_context():
        other.test_client().get(f"/test-sign-in/{user.id}")
        db.engine.dispose()

    [record] = request_records(caplog)
    assert record.user_id == user.id


# --- request id --------------------------------------------------------------------------


def test_a_well_formed_request_id_is_echoed_back(client):
    response = client.get("/livez", headers={"X-Request-ID": "Abc_123-xyz"})

    assert response.headers["X-Request-ID"] == "Abc_123-xyz"


def test_a_request_without_an_id_gets_a_new_one(client):
    first = client.get("/livez").headers["X-Request-ID"]
    second = client.get("/livez").headers["X-Request-ID"]

    assert GENERATED_ID.fullmatch(first)
    assert GENERATED_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("bad_id", ["has space", "quote\"d", "a" * 65, "semi;colon", "ünïcode"])
def test_a_malformed_request_id_is_replaced(client, caplog, bad_id):
    caplog.set_level(logging.INFO, logger="marketplace.request")

    response = client.get("/livez", headers={"X-Request-ID": bad_id})

    echoed = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(echoed)
    [record] = request_records(caplog)
    assert record.request_id == echoed


def test_a_64_character_request_id_is_accepted(client):
    response = client.get("/livez", headers={"X-Request-ID": "b" * 64})

    assert response.headers["X-Request-ID"] == "b" * 64


def test_lines_logged_during_a_request_carry_its_id(app, caplog):
    caplog.set_level(logging.INFO, logger="marketplace")

    with app.test_request_context("/"):
        g.request_id = "req-7"
        logging.getLogger("marketplace.anything").info("hello")

    [record] = [r for r in caplog.records if r.name == "marketplace.anything"]
    assert record.request_id == "req-7"


# --- formats -----------------------------------------------------------------------------


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("marketplace.orders", logging.WARNING, __file__, 10,
                               "order %s held", ("A-1",), None)
    record.__dict__.update(extra)
    return record


def test_json_lines_parse_and_include_the_extras():
    line = JSONFormatter().format(_record(order_id=7, amount_minor=1250, currency="EUR"))

    entry = json.loads(line)
    assert entry.pop("ts").endswith("+00:00")
    assert entry == {
        "level": "WARNING", "logger": "marketplace.orders", "message": "order A-1 held",
        "order_id": 7, "amount_minor": 1250, "currency": "EUR",
    }


def test_json_lines_carry_the_traceback_and_stringify_odd_values():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record(when=object)
        record.exc_info = sys.exc_info()

    entry = json.loads(JSONFormatter().format(record))

    assert entry["when"] == "<class 'object'>"
    assert entry["exc_info"].startswith("Traceback (most recent call last)")
    assert entry["exc_info"].rstrip().endswith("RuntimeError: boom")


def test_text_lines_end_with_the_extras():
    line = TextFormatter().format(_record(order_id=7))

    assert line.endswith("WARNING marketplace.orders: order A-1 held order_id=7")


# --- configuration -----------------------------------------------------------------------


def test_building_apps_again_does_not_add_handlers(app, restore_logging):
    _other_app(app)
    _other_app(app)

    assert len(_marketplace_handlers()) == 1
    assert len(logging.getLogger("marketplace").handlers) == 1


def test_log_format_and_level_come_from_the_config(app, restore_logging):
    _other_app(app, LOG_FORMAT="text", LOG_LEVEL="warning")

    [handler] = _marketplace_handlers()
    assert isinstance(handler.formatter, TextFormatter)
    assert logging.getLogger("marketplace").level == logging.WARNING


def test_json_is_the_format_for_log_format_json(app, restore_logging):
    _other_app(app, LOG_FORMAT="json")

    [handler] = _marketplace_handlers()
    assert isinstance(handler.formatter, JSONFormatter)


def test_an_unknown_log_level_stops_the_app_from_starting(app, restore_logging):
    with pytest.raises(ValueError, match="LOG_LEVEL 'LOUD' is not a logging level"):
        _other_app(app, LOG_LEVEL="LOUD")


def test_the_other_packages_log_through_the_same_handler(app, capsys):
    # A payout or a refund logs under payouts.*: an operator must see those lines too, in
    # the configured format, not lose them to Python's bare last-resort handler.
    logging.getLogger("payouts.payouts").warning("payout transfer outcome unknown",
                                                 extra={"payout_id": 7})

    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "payout transfer outcome unknown" in line
    assert "payout_id" in line
