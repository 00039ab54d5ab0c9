"""Whole storefront pages for anonymous visitors, cached per URL, language and currency.

Most storefront traffic is anonymous, and for an anonymous visitor everything the layout shows
is either part of the cache key (the path and query string, which also fill the search box and
the switchers' ``next`` fields; the language; the currency; the URL prefix) or excluded (a
visitor with flashed messages, any logged-in user: those get the per-fragment cache in
``buyers.views`` instead). Entries are validated by the catalog generation like every catalog
cache (``marketplace.cache``), so an index write invalidates them at once. Only pages a view
returns as a string (200 OK) are stored: redirects, 404s and 422s are answered as usual,
every time.

**CSRF tokens.** The one per-visitor value a page can hold is the CSRF token of its forms
(the ``<meta name="csrf-token">`` and any form's hidden field). A page is rendered for the
cache with a placeholder wherever a token goes, and served with the visitor's own token when
their session already has one. A visitor without one (a first visit, a client without
cookies) gets the page with empty tokens and no session: creating a session and signing a
token on every such request cost more than the rest of a cache hit. Anonymous visitors' own
forms in the header (language, currency) are GET forms that need no token
(``marketplace.i18n``). A POST form on a cached page (add to cart) gets its token when it is
used: ``marketplace/static/csrf.js`` fetches one from ``/csrf-token`` when the visitor
focuses or submits the form; without JavaScript the server answers the tokenless POST by
sending the visitor back to the page, now with a session and a token, to send it again
(``marketplace.errors``). Nothing is ever done without a valid token.

**The fast path.** A cache hit for a visitor who sends neither a session nor a remember-me
cookie is answered by :class:`PageCacheMiddleware`, in front of Flask: such a visitor is
anonymous, has no flashed messages and no chosen language or currency (so the key is the
browser's ``Accept-Language`` match and the default currency, by the same functions the
Flask path uses), and gets no token. Everything else (a miss, a visitor with cookies, any
other URL) goes through Flask as before. The fast path answers with the same status, body and
headers as Flask would (``Content-Type``, ``Content-Length``,
``Vary: Accept-Language, Cookie``, ``X-Request-ID``) and writes the same request log line.
``Vary`` names ``Accept-Language`` because the page's language (its interface and the
vendors' translated titles and descriptions) follows it for a visitor without a choice, so
no HTTP cache in front may hand a German page to an English browser.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, g, make_response, request, session
from flask_login import current_user
from flask_login.config import COOKIE_NAME as REMEMBER_COOKIE_NAME
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Request

from marketplace.cache import cached
from marketplace.i18n import currency_for, current_currency, locale_for, select_locale
from marketplace.logs import REQUEST_ID_HEADER, request_id_from, write_request_line

log = logging.getLogger(__name__)

CSRF_PLACEHOLDER = "csrf-token-placeholder-7f3a9c"
# Long enough that a popular page is rendered a few times an hour at most; short enough that
# one-off URLs (every price someone typed) don't pile up in Redis.
PAGE_TTL = 300
# Longer query strings are not someone following the site's own links: render them uncached.
MAX_CACHED_QUERY = 1000


# Template indentation: a fifth of a listing's bytes. Storefront pages have no <pre> or
# <textarea>, where leading whitespace would matter.
_INDENTATION = re.compile(r"\n\s+")


def compact(html: str) -> str:
    """``html`` without the blank lines and indentation templates leave behind."""
    return _INDENTATION.sub("\n", html)


@dataclass(frozen=True)
class CachedPage:
    """A page as UTF-8 bytes, cut where the visitor's CSRF token goes."""

    parts: tuple[bytes, ...]

    @classmethod
    def of(cls, html: str) -> CachedPage:
        return cls(tuple(part.encode() for part in compact(html).split(CSRF_PLACEHOLDER)))

    def body(self, token: str) -> bytes:
        return token.encode().join(self.parts)


class _NotCacheable(Exception):
    def __init__(self, response: Any):
        super().__init__()
        self.response = response


def _entry_name(name: str) -> str:
    return f"whole-page:{name}"


def anonymous_visitor() -> bool:
    """Whether this request's page may come from (and go to) the whole-page cache."""
    return (request.method == "GET" and not current_user.is_authenticated
            and not session.get("_flashes") and len(request.query_string) <= MAX_CACHED_QUERY)


def page_key(req: Request, locale: str, currency: str) -> str:
    """The cache key of ``req``'s page in ``locale`` and ``currency``; ``req`` is Flask's
    request or, on the fast path, a plain werkzeug one over the same environ."""
    raw = repr((req.path, req.query_string, locale, currency, req.script_root))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _key() -> str:
    # select_locale() is the same choice get_locale() makes, without building a Babel Locale
    # (which reads the locale's data file): a cache hit needs no Babel at all.
    return page_key(request, select_locale(), current_currency())


def _token_field() -> str:
    return current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")


@contextmanager
def placeholder_tokens() -> Iterator[None]:
    """Render with :data:`CSRF_PLACEHOLDER` wherever a CSRF token goes, without creating a
    session. flask-wtf's ``generate_csrf`` (``{{ csrf_token() }}``, a FlaskForm's hidden
    field) returns the token it keeps in ``g`` for the request, so that is where the
    placeholder goes; this request's own token, if it had one, is put back afterwards."""
    field = _token_field()
    own = g.pop(field, None)
    setattr(g, field, CSRF_PLACEHOLDER)
    try:
        yield
    finally:
        g.pop(field, None)
        if own is not None:
            setattr(g, field, own)


def visitor_token() -> str:
    """This visitor's CSRF token if their session has one, else "" (the page's script fetches
    one when a form is used): serving a cached page never creates a session."""
    return generate_csrf() if _token_field() in session else ""


def with_visitor_token(html: str) -> str:
    """A fragment rendered under :func:`placeholder_tokens`, with this visitor's token."""
    return html.replace(CSRF_PLACEHOLDER, generate_csrf()) if CSRF_PLACEHOLDER in html else html


def cached_for_anonymous(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Serve the decorated view's page from the cache for anonymous visitors (and mark it
    for :class:`PageCacheMiddleware`)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        def answer(kwargs: dict[str, Any]) -> Response:
            if not anonymous_visitor():
                return make_response(view(**kwargs))

            def render() -> CachedPage:
                with placeholder_tokens():
                    body = view(**kwargs)
                if not isinstance(body, str):
                    raise _NotCacheable(body)
                return CachedPage.of(body)

            try:
                page = cached(_entry_name(name), _key(), render, ttl=PAGE_TTL)
            except _NotCacheable as not_cacheable:
                return make_response(not_cacheable.response)
            return Response(page.body(visitor_token()), mimetype="text/html")

        @wraps(view)
        def wrapped(**kwargs: Any) -> Any:
            response = answer(kwargs)
            response.vary.add("Accept-Language")  # the language follows it: see the fast path
            return response

        wrapped.page_cache_name = name  # type: ignore[attr-defined]
        return wrapped

    return decorate


# --- The fast path ------------------------------------------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Miss(Exception):
    pass


def _absent() -> Any:
    raise _Miss


@dataclass(frozen=True)
class _Route:
    prefix: str
    exact: bool
    name: str

    def matches(self, path: str) -> bool:
        return path == self.prefix if self.exact else path.startswith(self.prefix)


def cached_routes(app: Flask) -> list[_Route]:
    """The URL rules whose view is :func:`cached_for_anonymous`, as path prefixes (up to the
    first variable part). A prefix may also cover another view's URLs; that costs a lookup
    that misses, never a wrong page, because an entry is only ever stored for a path its
    cached view answered."""
    routes = []
    for rule in app.url_map.iter_rules():
        name = getattr(app.view_functions.get(rule.endpoint), "page_cache_name", None)
        if name and "GET" in (rule.methods or ()):
            prefix, _, rest = rule.rule.partition("<")
            routes.append(_Route(prefix, not rest, name))
    return routes


class PageCacheMiddleware:
    """Answers cache hits for visitors without a session or remember-me cookie before Flask
    (see the module's docstring); everything else goes to ``wsgi_app`` unchanged."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp):
        self.app = app
        self.wsgi_app = wsgi_app
        self._routes: list[_Route] | None = None  # built at the first request: all rules known

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            started = time.perf_counter()
            req = Request(environ)
            try:
                page = self._lookup(req)
            except Exception:  # an optimisation must not take the page down: Flask answers
                log.exception("The page cache's fast path failed; answering through Flask")
                page = None
            if page is not None:
                return self._answer(req, page, started, start_response)
        return self.wsgi_app(environ, start_response)

    def _lookup(self, req: Request) -> CachedPage | None:
        if self._routes is None:
            self._routes = cached_routes(self.app)
        route = next((r for r in self._routes if r.matches(req.path)), None)
        if route is None or len(req.query_string) > MAX_CACHED_QUERY:
            return None
        config = self.app.config
        if req.environ.get("HTTP_COOKIE"):
            cookies = req.cookies
            if (config["SESSION_COOKIE_NAME"] in cookies
                    or config.get("REMEMBER_COOKIE_NAME", REMEMBER_COOKIE_NAME) in cookies):
                return None  # perhaps logged in, flashed, or with a choice: Flask decides
        if config.get("TRUSTED_HOSTS"):
            return None  # Flask refuses untrusted hosts: let it check
        with self.app.app_context():
            key = page_key(req, locale_for(None, req.accept_languages), currency_for(None))
            try:
                return cached(_entry_name(route.name), key, _absent)
            except _Miss:
                return None

    def _answer(self, req: Request, page: CachedPage, started: float,
                start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = page.body("")
        request_id = request_id_from(req.headers.get(REQUEST_ID_HEADER))
        start_response("200 OK", [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            (REQUEST_ID_HEADER, request_id),
            ("Vary", "Accept-Language, Cookie"),
        ])
        write_request_line("GET", req.path, 200, started, request_id, None, req.remote_addr)
        return [body]


def install(app: Flask) -> None:
    """Put :class:`PageCacheMiddleware` in front of ``app``'s WSGI pipeline."""
    app.wsgi_app = PageCacheMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]
