"""Login throttling: failed attempts are limited per account and per IP, across processes."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator

import pytest
import redis as redis_lib
from flask import Flask

from marketplace import create_app
from marketplace.extensions import db
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user

WRONG = "definitely not the password"


def _form_error(html: str) -> str | None:
    match = re.search(r'<p class="field-error form-error" role="alert">([^<]*)</p>', html)
    return html_lib.unescape(match.group(1)) if match else None


def _without_tokens(html: str, email: str) -> str:
    """The page as a person reads it: per-request security tokens and the typed email aside."""
    html = re.sub(r'(name="csrf[-_]token"[^>]*?(?:content|value)=")[^"]+', r"\1", html)
    html = re.sub(r'(id="csrf_token"[^>]*?value=")[^"]+', r"\1", html)
    return html.replace(email, "EMAIL")


@pytest.fixture
def max_attempts(app: Flask) -> int:
    return app.config["LOGIN_MAX_ATTEMPTS_PER_ACCOUNT"]


@pytest.fixture
def second_app(app: Flask) -> Iterator[Flask]:
    """Another web process: its own app, the same database and Redis."""
    keys = ("TESTING", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "JOBS_EMBEDDED_WORKER",
            "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE", "SERVER_NAME", "SECRET_KEY")
    other = create_app({key: app.config[key] for key in keys})
    other.test_client_class = app.test_client_class
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def _fail(post_form, email: str, times: int) -> None:
    for _ in range(times):
        answer = post_form("/login", {"email": email, "password": WRONG})
        assert answer.status_code == 422, answer.status_code


def test_after_too_many_failures_the_next_attempt_is_refused_with_the_wait(post_form, max_attempts):
    make_user("ada@example.com")
    db.session.commit()
    _fail(post_form, "ada@example.com", max_attempts)

    answer = post_form("/login", {"email": "ada@example.com", "password": WRONG})

    assert answer.status_code == 429
    assert _form_error(answer.get_data(as_text=True)) == (
        "Too many attempts. Try again in 15 minutes."
    )
    assert 890 <= int(answer.headers["Retry-After"]) <= 900


def test_a_throttled_account_is_refused_even_with_the_right_password(client, post_form,
                                                                      max_attempts):
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    _fail(post_form, "ada@example.com", max_attempts)

    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    assert answer.status_code == 429
    assert '<span class="who">' not in client.get("/").get_data(as_text=True)


def test_known_and_unknown_emails_are_throttled_with_the_same_page(post_form, max_attempts):
    make_user("ada@example.com")
    db.session.commit()
    _fail(post_form, "ada@example.com", max_attempts)
    _fail(post_form, "nobody@example.com", max_attempts)

    known = post_form("/login", {"email": "ada@example.com", "password": WRONG})
    unknown = post_form("/login", {"email": "nobody@example.com", "password": WRONG})

    assert known.status_code == unknown.status_code == 429
    assert _without_tokens(known.get_data(as_text=True), "ada@example.com") == _without_tokens(
        unknown.get_data(as_text=True), "nobody@example.com"
    )


def test_the_email_is_throttled_however_it_is_spelled(post_form, max_attempts):
    _fail(post_form, "ada@example.com", max_attempts)

    answer = post_form("/login", {"email": " ADA@Example.com", "password": WRONG})

    assert answer.status_code == 429


def test_a_successful_login_clears_the_accounts_failures(client, post_form, max_attempts):
    make_user("ada@example.com")
    db.session.commit()
    _fail(post_form, "ada@example.com", max_attempts - 1)
    assert post_form("/login", {"email": "ada@example.com", "password": PASSWORD}
                     ).status_code == 302
    post_form("/logout")

    _fail(post_form, "ada@example.com", max_attempts - 1)
    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    assert answer.status_code == 302


def test_attempts_on_one_web_process_count_on_another(app, second_app, post_form, max_attempts):
    make_user("ada@example.com")
    db.session.commit()
    _fail(post_form, "ada@example.com", max_attempts)
    other = second_app.test_client()

    answer = other.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                        "csrf_token": csrf_token(other)})

    assert answer.status_code == 429
    assert _form_error(answer.get_data(as_text=True)) == (
        "Too many attempts. Try again in 15 minutes."
    )


def test_one_ip_guessing_across_many_accounts_is_throttled(app, client, post_form,
                                                          monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_ATTEMPTS_PER_IP", 3)
    for n in range(3):
        _fail(post_form, f"user{n}@example.com", 1)

    answer = post_form("/login", {"email": "user9@example.com", "password": WRONG})
    elsewhere = client.post(
        "/login",
        data={"email": "user9@example.com", "password": WRONG, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )

    assert answer.status_code == 429
    assert elsewhere.status_code == 422


def test_successful_logins_do_not_use_up_the_ips_allowance(app, post_form, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_ATTEMPTS_PER_IP", 2)
    make_user("ada@example.com")
    db.session.commit()
    for _ in range(3):
        assert post_form("/login", {"email": "ada@example.com", "password": PASSWORD}
                         ).status_code == 302
        post_form("/logout")

    answer = post_form("/login", {"email": "ada@example.com", "password": WRONG})

    assert answer.status_code == 422


def test_logging_in_while_redis_is_down_answers_503(app, post_form, monkeypatch):
    make_user("ada@example.com")
    db.session.commit()
    # Nothing listens on port 1: every command fails to connect, like a stopped Redis.
    unreachable = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    monkeypatch.setitem(app.extensions, "marketplace.redis", unreachable)

    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    assert answer.status_code == 503
    assert "Redis" in answer.get_data(as_text=True)
