"""Register, log in, log out and reset a password: thin views over ``auth.services``.

Every refused form re-renders with HTTP 422 and the message next to its field; a throttled
login answers 429. Services flush, views commit.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from marketplace.auth import services
from marketplace.auth.forms import LoginForm, RegisterForm, ResetPasswordForm, ResetRequestForm
from marketplace.extensions import db, login_manager
from marketplace.models import User

bp = Blueprint("auth", __name__, template_folder="templates")

REMEMBER_FOR = dt.timedelta(days=14)
# Preferences that survive the session being cleared at login and logout; everything else
# (the CSRF secret, anything an attacker may have planted before login) starts afresh.
SESSION_KEYS_KEPT = ("locale", "currency")


@bp.record_once
def _configure_login_manager(state) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    # Evaluates the lazy message in the visitor's language when it is flashed.
    login_manager.localize_callback = str
    # "strong" would log people out whenever their IP changes (mobile networks do that all
    # the time); "basic" still marks a session non-fresh when its fingerprint changes.
    login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "/\evil.test" as "//evil.test"; control characters can hide either.
    if "\\" in target or any(ord(char) < 32 for char in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _fresh_session() -> None:
    """Start a new session at every privilege change, keeping only the visitor's preferences.

    At login this stops session fixation: a session planted before login never becomes an
    authenticated one. Flask's session lives in the signed cookie, so clearing it is the
    rotation.
    """
    kept = {key: session[key] for key in SESSION_KEYS_KEPT if key in session}
    session.clear()
    session.update(kept)


def _log_in(user: User, remember: bool) -> None:
    _fresh_session()
    login_user(user, remember=remember, duration=REMEMBER_FOR)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("buyers.home"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register_user(form.email.data, form.name.data, form.password.data)
        except services.WeakPassword as error:
            form.password.errors.append(error.message)
        except (services.EmailTaken, services.InvalidEmail) as error:
            form.email.errors.append(error.message)
        else:
            db.session.commit()
            _log_in(user, remember=False)
            flash(_("Welcome, %(name)s! Your account is ready.", name=user.name), "success")
            return redirect(url_for("buyers.home"))
        db.session.rollback()
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")) or url_for("buyers.home"))
    form = LoginForm(next=request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data, request.remote_addr)
        except services.Throttled as error:
            page = _login_page(form, error.message)
            return page, 429, {"Retry-After": str(error.retry_after_seconds)}
        except services.InvalidCredentials as error:
            return _login_page(form, error.message), 422
        _log_in(user, remember=form.remember.data)
        flash(_("Welcome back, %(name)s.", name=user.name), "success")
        return redirect(safe_next(form.next.data) or url_for("buyers.home"))
    return _login_page(form), 422 if form.is_submitted() else 200


def _login_page(form: LoginForm, form_error_message: str | None = None) -> str:
    # The password is never echoed back; the email is, so a typo is easy to spot.
    return render_template("auth/login.html", form=form, form_error_message=form_error_message)


@bp.post("/logout")
def logout():
    # Clear first: logout_user leaves a note in the session that deletes the remember-me
    # cookie, which clearing afterwards would throw away (and the cookie would log them in).
    _fresh_session()
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("buyers.home"))


@bp.route("/reset-password", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        db.session.commit()
        # The same answer whether or not the account exists.
        return render_template(
            "auth/message.html",
            title=_("Check your email"),
            message=_("If an account exists for that email, we've sent a link."),
        )
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_request.html", form=form), status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        services.user_for_reset_token(token)
    except services.InvalidToken as error:
        return _invalid_token_page(error.message)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except services.InvalidToken as error:
            return _invalid_token_page(error.message)
        except services.WeakPassword as error:
            form.password.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Your password has been changed. You can log in with it now."), "success")
            return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_form.html", form=form), status


def _invalid_token_page(message: str):
    db.session.rollback()
    page = render_template(
        "auth/message.html",
        title=_("This link can't be used"),
        message=message,
        link=url_for("auth.reset_request"),
        link_text=_("Request a new link"),
    )
    return page, 400
