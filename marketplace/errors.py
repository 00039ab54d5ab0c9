"""Errors a person can act on: an HTML page for browsers, JSON for the API, never a trace.

Domain code raises domain exceptions or marshmallow ``ValidationError``; these handlers turn
them into 4xx answers. A database or Redis outage becomes a 503 that names the part that is
down, and the failed transaction is rolled back so nothing is half-written.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from marketplace.extensions import db, login_manager

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """A backing service (``part``: "database" or "redis") can't be reached."""

    def __init__(self, part: str):
        super().__init__(part)
        self.part = part


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, title: str, message: str,
                   fields: dict | None = None) -> Response:
    """The error as JSON for API clients, else as the friendly HTML page."""
    if wants_json():
        body: dict = {"error": {"status": status, "title": title, "message": message}}
        if fields:
            body["error"]["fields"] = fields
        return make_response(jsonify(body), status)
    _no_new_session()
    return make_response(
        render_template("errors/error.html", status=status, title=title, message=message,
                        fields=fields),
        status,
    )


def _no_new_session() -> None:
    """An error page for a request without a session does not start one (the CSRF token in
    its header would). A visitor's parallel requests each answer with the whole cookie
    session: the favicon's 404, sent before a language switch and answered after it, would
    overwrite the switch with a session holding only a token. A form on such a page fetches
    its token when used (static/csrf.js), or is sent back to the page, which then has one
    (``_form_from_a_page_without_token``). A request with a session (everyone logged in)
    gets its tokens as on any page."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if not session and field not in g:
        setattr(g, field, "")  # flask-wtf's generate_csrf returns the request's token from g


def _form_from_a_page_without_token() -> bool:
    """A form POSTed with an empty CSRF token field by a visitor whose session has no token:
    a form of a page the storefront's page cache served before they had a session (its token
    fields stay empty until the page's script fetches one, see buyers/page_cache.py), sent
    without JavaScript. A form without the field at all is not one of those."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    return (request.method == "POST" and not wants_json()
            and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
            and request.form.get(field) == "" and field not in session)


def _back_to_the_form() -> Response:
    """A 303 to the page the form was on (a path of this site), else the home page."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        target = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    else:
        target = url_for("buyers.home")
    return redirect(target, 303)


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood.")),
        401: (_("Please log in"), _("You need to log in to see this page.")),
        403: (_("Forbidden"), _("You don't have permission to see this page.")),
        404: (_("Page not found"),
              _("We couldn't find that page. It may have moved or never existed.")),
        405: (_("Method not allowed"), _("This address doesn't accept that kind of request.")),
        413: (_("Too large"), _("What you sent is larger than we accept.")),
        429: (_("Too many requests"), _("Please wait a little and try again.")),
    }


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        if _form_from_a_page_without_token():
            # Nothing was done. The page it came from now renders with this visitor's token
            # (the flash starts their session), so sending the form again works.
            flash(_("Your visit had only just begun, so nothing was done yet: please send "
                    "the form again."), "info")
            return _back_to_the_form()
        return error_response(
            400,
            _("Form expired or invalid"),
            _("The form's security token was missing or invalid. Reload the page and try again."),
        )

    @app.errorhandler(ValidationError)
    def validation_error(error: ValidationError):
        db.session.rollback()
        messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
        return error_response(
            422, _("Please check your input"), _("Some fields are not valid."), messages
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        title, message = _messages().get(status, (error.name, error.description or ""))
        # Handlers that abort with their own description keep it (e.g. "no such vendor").
        if error.description and error.description != type(error).description:
            message = error.description
        response = error_response(status, title, message)
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    def unavailable(part: str):
        db.session.rollback()
        # The page's header shows who is logged in; loading them needs the database that is
        # down, so this answer is rendered for an anonymous visitor (flask-login's cache in g).
        g._login_user = login_manager.anonymous_user()
        log.error("service unavailable", extra={"part": part})
        if part == "database":
            message = _("The database can't be reached right now. Nothing was saved; "
                        "please try again in a moment.")
        else:
            message = _("The job queue (Redis) can't be reached right now. "
                        "Please try again in a moment.")
        response = error_response(503, _("Temporarily unavailable"), message)
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(ServiceUnavailable)
    def service_unavailable(error: ServiceUnavailable):
        return unavailable(error.part)

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError):
        return unavailable("database")

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def redis_down(error: Exception):
        return unavailable("redis")

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return unavailable("database")
        db.session.rollback()
        log.exception("unhandled error")
        return error_response(
            500,
            _("Something went wrong"),
            _("An unexpected error happened on our side. It has been logged; please try again."),
        )
