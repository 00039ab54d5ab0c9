"""Accounts and sessions: registering, logging in and out, resetting a password, admins."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from email.utils import parsedate_to_datetime

import pytest
from flask import url_for
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import OutboxJob, Role, User
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "a brand new river stone"


def _registration(**changes) -> dict:
    data = {
        "name": "Grace Hopper",
        "email": "Grace@Example.COM",
        "password": "compilers are friends",
        "confirm": "compilers are friends",
    }
    data.update(changes)
    return data


def _user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def _field_error(html: str, field: str) -> str | None:
    match = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', html)
    return html_lib.unescape(match.group(1)) if match else None


def _form_error(html: str) -> str | None:
    match = re.search(r'<p class="field-error form-error" role="alert">([^<]*)</p>', html)
    return html_lib.unescape(match.group(1)) if match else None


def _header_name(html: str) -> str | None:
    match = re.search(r'<span class="who">([^<]*)</span>', html)
    return html_lib.unescape(match.group(1)) if match else None


def _reset_link_in_outbox() -> str:
    job = db.session.scalars(select(OutboxJob).where(OutboxJob.queue == "email")).one()
    match = re.search(r"http://localhost(/reset-password/\S+)", job.args[2])
    assert match, job.args
    return match.group(1)


# --- registering -----------------------------------------------------------------------------


def test_registering_creates_a_buyer_and_logs_them_in(client, post_form):
    answer = post_form("/register", _registration())

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert _header_name(home) == "Grace Hopper"
    assert "Welcome, Grace Hopper! Your account is ready." in home
    user = db.session.scalars(select(User)).one()
    assert (user.email, user.role) == ("grace@example.com", Role.BUYER)
    assert user.check_password("compilers are friends")


def test_registering_with_a_taken_email_says_so_next_to_the_email(client, post_form):
    make_user("grace@example.com")
    db.session.commit()

    answer = post_form("/register", _registration(email="GRACE@example.com"))

    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert _field_error(html, "email") == "An account with this email already exists."
    assert _user_count() == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "Use at least 10 characters."),
        ("aaaaaaaaaaaa", "Use more than one repeated character."),
        ("Password123", "This password is too common. Choose one that is harder to guess."),
        ("grace@2024!!", "Don't use your email address in your password."),
    ],
)
def test_a_weak_password_is_refused_next_to_the_password(post_form, password, message):
    answer = post_form("/register", _registration(password=password, confirm=password))

    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert _field_error(html, "password") == message
    assert password not in html
    assert _user_count() == 0


def test_a_malformed_email_is_refused_next_to_the_email(post_form):
    answer = post_form("/register", _registration(email="grace@@example"))

    assert answer.status_code == 422
    assert _field_error(answer.get_data(as_text=True), "email") == "Enter a valid email address."
    assert _user_count() == 0


def test_every_problem_of_the_form_is_shown_at_once(post_form):
    answer = post_form("/register", _registration(email="grace", password="short", confirm=""))

    html = answer.get_data(as_text=True)
    assert _field_error(html, "email") == "Enter a valid email address."
    assert _field_error(html, "password") == "Use at least 10 characters."
    assert _field_error(html, "confirm") == "This field is required."


def test_passwords_that_dont_match_are_refused_next_to_the_repeat(post_form):
    answer = post_form("/register", _registration(confirm="compilers are foes"))

    assert answer.status_code == 422
    assert _field_error(answer.get_data(as_text=True), "confirm") == "The passwords don't match."
    assert _user_count() == 0


def test_the_registration_form_labels_fields_for_password_managers(client):
    html = client.get("/register").get_data(as_text=True)

    assert 'autocomplete="email"' in html
    assert html.count('autocomplete="new-password"') == 2
    assert '<label for="name">Your name' in html


# --- logging in and out ----------------------------------------------------------------------


def test_logging_in_shows_the_name_in_the_header(client, post_form):
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()

    answer = post_form("/login", {"email": "ADA@example.com ", "password": PASSWORD})

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    assert _header_name(client.get("/").get_data(as_text=True)) == "Ada Lovelace"


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(post_form):
    make_user("ada@example.com")
    db.session.commit()

    wrong_password = post_form("/login", {"email": "ada@example.com", "password": "not it at all"})
    unknown_email = post_form("/login", {"email": "nobody@example.com", "password": PASSWORD})

    assert wrong_password.status_code == unknown_email.status_code == 422
    assert _form_error(wrong_password.get_data(as_text=True)) == "Email or password is incorrect."
    assert _form_error(unknown_email.get_data(as_text=True)) == "Email or password is incorrect."


def test_the_login_form_is_labelled_for_password_managers(client):
    html = client.get("/login").get_data(as_text=True)

    assert 'autocomplete="email"' in html
    assert 'autocomplete="current-password"' in html


def test_login_follows_next_to_a_page_of_this_site(post_form):
    make_user("ada@example.com")
    db.session.commit()

    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD,
                                  "next": "/vendor/orders?page=2"})

    assert answer.headers["Location"] == "/vendor/orders?page=2"


@pytest.mark.parametrize(
    "target", ["https://evil.test/", "//evil.test/", "/\\evil.test", "javascript:alert(1)"]
)
def test_login_ignores_next_pointing_off_site(post_form, target):
    make_user("ada@example.com")
    db.session.commit()

    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD,
                                  "next": target})

    assert answer.headers["Location"] == "/"


def test_a_protected_page_sends_visitors_to_log_in_and_back(client):
    with client.application.test_request_context():
        protected = url_for("admin.dashboard")

    answer = client.get(protected)

    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/login?next={protected.replace('/', '%2F')}"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Please log in to see this page." in page
    assert f'name="next" type="hidden" value="{protected}"' in page


def test_logging_in_starts_a_new_session_but_keeps_the_language(client, post_form):
    make_user("ada@example.com")
    db.session.commit()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["locale"] = "de"

    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["locale"] == "de"
        assert session["_user_id"]


def test_remember_me_keeps_the_login_for_fourteen_days(post_form):
    make_user("ada@example.com")
    db.session.commit()

    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD,
                                  "remember": "y"})

    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("remember_token=")
    )
    assert "HttpOnly" in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    lifetime = expires - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=13, hours=23) < lifetime <= dt.timedelta(days=14)


def test_the_session_cookie_is_httponly_and_same_site_lax(post_form):
    make_user("ada@example.com")
    db.session.commit()

    answer = post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_form_posted_without_its_security_token_is_refused(client):
    make_user("ada@example.com")
    db.session.commit()

    answer = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD})

    assert answer.status_code == 400
    assert "security token was missing or invalid" in answer.get_data(as_text=True)
    assert _header_name(client.get("/").get_data(as_text=True)) is None


def test_logging_out_needs_a_post(client, post_form):
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD})

    assert client.get("/logout").status_code == 405
    assert _header_name(client.get("/").get_data(as_text=True)) == "Ada Lovelace"

    answer = post_form("/logout")

    assert answer.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert _header_name(home) is None
    assert "You have been logged out." in home


def test_logging_out_also_forgets_remember_me(client, post_form):
    make_user("ada@example.com", name="Ada Lovelace")
    db.session.commit()
    post_form("/login", {"email": "ada@example.com", "password": PASSWORD, "remember": "y"})

    answer = post_form("/logout")

    assert any(c.startswith("remember_token=;") for c in answer.headers.getlist("Set-Cookie"))
    assert _header_name(client.get("/").get_data(as_text=True)) is None


# --- resetting a password --------------------------------------------------------------------


def test_a_password_can_be_reset_through_the_emailed_link(client, post_form):
    make_user("ada@example.com")
    db.session.commit()

    asked = post_form("/reset-password", {"email": "Ada@Example.com"})
    assert asked.status_code == 200
    assert "If an account exists for that email, we&#39;ve sent a link." in asked.get_data(
        as_text=True
    )
    link = _reset_link_in_outbox()
    assert client.get(link).status_code == 200

    changed = post_form(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert changed.status_code == 302
    assert changed.headers["Location"] == "/login"
    assert "Your password has been changed." in client.get("/login").get_data(as_text=True)
    old = post_form("/login", {"email": "ada@example.com", "password": PASSWORD})
    assert old.status_code == 422
    new = post_form("/login", {"email": "ada@example.com", "password": NEW_PASSWORD})
    assert new.status_code == 302


def test_asking_for_a_reset_of_an_unknown_email_answers_the_same_and_sends_nothing(post_form):
    answer = post_form("/reset-password", {"email": "nobody@example.com"})

    assert answer.status_code == 200
    assert "If an account exists for that email, we&#39;ve sent a link." in answer.get_data(
        as_text=True
    )
    assert db.session.scalar(select(func.count()).select_from(OutboxJob)) == 0


def test_asking_twice_in_a_row_sends_one_email(post_form):
    make_user("ada@example.com")
    db.session.commit()

    post_form("/reset-password", {"email": "ada@example.com"})
    second = post_form("/reset-password", {"email": "ada@example.com"})

    assert "If an account exists for that email, we&#39;ve sent a link." in second.get_data(
        as_text=True
    )
    assert db.session.scalar(select(func.count()).select_from(OutboxJob)) == 1


def test_a_used_reset_link_cannot_be_used_again(client, post_form):
    make_user("ada@example.com")
    db.session.commit()
    post_form("/reset-password", {"email": "ada@example.com"})
    link = _reset_link_in_outbox()
    post_form(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    again = post_form(link, {"password": "yet another long phrase", "confirm":
                             "yet another long phrase"})

    assert again.status_code == 400
    html = again.get_data(as_text=True)
    assert "This password reset link is invalid, has expired or was already used." in html
    assert 'href="/reset-password">Request a new link</a>' in html
    user = db.session.scalars(select(User)).one()
    assert user.check_password(NEW_PASSWORD)


def test_a_tampered_reset_link_is_refused(client, post_form):
    make_user("ada@example.com")
    db.session.commit()
    post_form("/reset-password", {"email": "ada@example.com"})
    link = _reset_link_in_outbox()

    answer = client.get(link[:-3] + ("abc" if not link.endswith("abc") else "xyz"))

    assert answer.status_code == 400


def test_an_expired_reset_link_is_refused(app, client, post_form, monkeypatch):
    make_user("ada@example.com")
    db.session.commit()
    post_form("/reset-password", {"email": "ada@example.com"})
    link = _reset_link_in_outbox()
    # Any token is older than a negative maximum age: the expiry path without waiting.
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE_SECONDS", -1)

    answer = client.get(link)

    assert answer.status_code == 400
    assert "has expired" in answer.get_data(as_text=True)


def test_a_weak_new_password_is_refused_and_the_link_still_works(post_form):
    make_user("ada@example.com")
    db.session.commit()
    post_form("/reset-password", {"email": "ada@example.com"})
    link = _reset_link_in_outbox()

    weak = post_form(link, {"password": "1234567890", "confirm": "1234567890"})

    assert weak.status_code == 422
    assert _field_error(weak.get_data(as_text=True), "password") == (
        "This password is too common. Choose one that is harder to guess."
    )
    assert post_form(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302


# --- the create-admin command ----------------------------------------------------------------


def _admin_cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["marketplace", "create-admin", *args], input=input)


def test_create_admin_makes_an_admin_account(app):
    result = _admin_cli(app, "--email", "Root@Example.com", "--name", "Root",
                        "--password", NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "Created the admin account root@example.com." in result.output
    user = db.session.scalars(select(User)).one()
    assert (user.email, user.role) == ("root@example.com", Role.ADMIN)
    assert user.check_password(NEW_PASSWORD)


def test_create_admin_prompts_for_the_password_twice(app):
    result = _admin_cli(app, "--email", "root@example.com", "--name", "Root",
                        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert db.session.scalars(select(User)).one().check_password(NEW_PASSWORD)


def test_create_admin_refuses_a_weak_password(app):
    result = _admin_cli(app, "--email", "root@example.com", "--name", "Root",
                        "--password", "short")

    assert result.exit_code == 1
    assert "Error: Use at least 10 characters." in result.output
    assert _user_count() == 0


def test_create_admin_refuses_a_malformed_email(app):
    result = _admin_cli(app, "--email", "root.example.com", "--name", "Root",
                        "--password", NEW_PASSWORD)

    assert result.exit_code == 1
    assert "Enter a valid email address." in result.output


def test_create_admin_promotes_an_existing_account_only_when_asked(app):
    make_user("ada@example.com")
    db.session.commit()

    refused = _admin_cli(app, "--email", "ada@example.com", "--name", "Ada")
    assert refused.exit_code == 1
    assert "Run again with --promote" in refused.output
    assert db.session.scalars(select(User)).one().role == Role.BUYER

    promoted = _admin_cli(app, "--email", "ada@example.com", "--name", "Ada", "--promote")

    assert promoted.exit_code == 0, promoted.output
    user = db.session.scalars(select(User)).one()
    assert user.role == Role.ADMIN
    assert user.check_password(PASSWORD)
