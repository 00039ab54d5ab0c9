"""Language and currency selection, wired to flask-babel.

The locale comes from the user's explicit choice (their profile, else the session), then the
browser's Accept-Language, then the default. The choice lives in the signed session cookie or
the database, so every web process agrees on it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_login import current_user
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import LanguageAccept

from marketplace.extensions import babel, db

# Right-to-left scripts; the <html dir> attribute follows the active locale.
RTL_LANGUAGES = {"ar", "he", "fa", "ur"}

bp = Blueprint("i18n", __name__)


def locale_for(chosen: str | None, accept_languages: LanguageAccept) -> str:
    """The locale for an explicit ``chosen`` one (None: nothing chosen) and the browser's
    ``Accept-Language``: the choice when it is a supported language, else the browser's best
    match, else the default. The one rule :func:`select_locale` and the whole-page cache's
    fast path (``buyers.page_cache``, which has no request context) both apply."""
    languages = current_app.config["LANGUAGES"]
    if chosen in languages:
        return chosen
    return accept_languages.best_match(list(languages)) or current_app.config[
        "BABEL_DEFAULT_LOCALE"
    ]


def currency_for(chosen: str | None) -> str:
    """The currency for an explicit ``chosen`` one (None: nothing chosen): the choice when
    it is supported, else the default. Shared like :func:`locale_for`."""
    if chosen in current_app.config["CURRENCIES"]:
        return chosen
    return current_app.config["DEFAULT_CURRENCY"]


def select_locale() -> str:
    if not has_request_context():
        # Jobs and CLI commands have no visitor: they pass a locale explicitly with
        # force_locale, else they speak the default language.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("locale")
    if current_user.is_authenticated and current_user.locale:
        chosen = current_user.locale
    return locale_for(chosen, request.accept_languages)


def current_currency() -> str:
    if not has_request_context():
        return current_app.config["DEFAULT_CURRENCY"]
    chosen = session.get("currency")
    if current_user.is_authenticated and current_user.currency:
        chosen = current_user.currency
    return currency_for(chosen)


def text_direction() -> str:
    return "rtl" if str(get_locale()).split("_")[0] in RTL_LANGUAGES else "ltr"


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the switcher can't be used as an open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("buyers.home")


class LocaleChoiceSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # the form also carries csrf_token

    locale = fields.String(required=True)
    next = fields.String(load_default=None)


class CurrencyChoiceSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    currency = fields.String(required=True)
    next = fields.String(load_default=None)


def _load(schema: Schema, choices: list[str], field: str) -> dict[str, Any]:
    data = schema.load((request.form if request.method == "POST" else request.args).to_dict())
    try:
        validate.OneOf(choices)(data[field])
    except ValidationError as err:
        raise ValidationError({field: err.messages}) from err
    return data


# The switchers answer two forms. A logged-in user's header POSTs (with the CSRF token, like
# every form that changes stored data) and the choice is saved in their profile too. A
# visitor's header sends a GET: the choice only goes into this browser's session, and the
# header carries no CSRF token, so the storefront's cached pages (buyers.page_cache) need
# none for a visitor without a session. A GET from a logged-in user changes nothing (it is
# what a link or an <img> on another site sends: it must not switch the currency a checkout
# in progress charges in). Both work without JavaScript (the select's own submit button
# inside <noscript>).


def _may_switch() -> bool:
    return request.method == "POST" or not current_user.is_authenticated


@bp.route("/preferences/language", methods=["GET", "POST"])
def set_language():
    data = _load(LocaleChoiceSchema(), list(current_app.config["LANGUAGES"]), "locale")
    if _may_switch():
        session["locale"] = data["locale"]
    if request.method == "POST" and current_user.is_authenticated:
        current_user.locale = data["locale"]
        db.session.commit()
    return redirect(_safe_next(data["next"]))


@bp.route("/preferences/currency", methods=["GET", "POST"])
def set_currency():
    data = _load(CurrencyChoiceSchema(), current_app.config["CURRENCIES"], "currency")
    if _may_switch():
        session["currency"] = data["currency"]
    if request.method == "POST" and current_user.is_authenticated:
        current_user.currency = data["currency"]
        db.session.commit()
    return redirect(_safe_next(data["next"]))


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def inject_i18n() -> dict[str, Any]:
        return {
            "current_locale": str(get_locale()),
            "text_direction": text_direction(),
            "current_currency": current_currency(),
            "languages": current_app.config["LANGUAGES"],
            "currencies": current_app.config["CURRENCIES"],
        }
