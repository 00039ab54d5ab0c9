"""Whole storefront pages for anonymous visitors, cached per URL, language and currency.

Most storefront traffic is anonymous, and for an anonymous visitor everything the layout shows
is either part of the cache key (the path and query string, which also fill the search box and
the switchers' ``next`` fields; the language; the currency; the URL prefix) or excluded (a
visitor with flashed messages, any logged-in user: those get the per-fragment cache in
``buyers.views`` instead). The one per-session value, the CSRF token of the header's forms, is
replaced by a placeholder before the page is stored and by the visitor's own token when it is
served. Entries are validated by the catalog generation like every catalog cache
(``marketplace.cache``), so an index write invalidates them at once.

Only pages a view returns as a string (200 OK) are stored: redirects, 404s and 422s are answered
as usual, every time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from marketplace.cache import cached
from marketplace.i18n import current_currency, select_locale

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


class _NotCacheable(Exception):
    def __init__(self, response: Any):
        super().__init__()
        self.response = response


def anonymous_visitor() -> bool:
    """Whether this request's page may come from (and go to) the whole-page cache."""
    return (request.method == "GET" and not current_user.is_authenticated
            and not session.get("_flashes") and len(request.query_string) <= MAX_CACHED_QUERY)


def _key() -> str:
    # select_locale() is the same choice get_locale() makes, without building a Babel Locale
    # (which reads the locale's data file): a cache hit needs no Babel at all.
    raw = repr((request.path, request.query_string, select_locale(), current_currency(),
                request.script_root))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def cached_for_anonymous(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Serve the decorated view's page from the cache for anonymous visitors."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(**kwargs: Any) -> Any:
            if not anonymous_visitor():
                return view(**kwargs)

            def render() -> str:
                body = view(**kwargs)
                if not isinstance(body, str):
                    raise _NotCacheable(body)
                return compact(body).replace(generate_csrf(), CSRF_PLACEHOLDER)

            try:
                page = cached(f"response:{name}", _key(), render, ttl=PAGE_TTL)
            except _NotCacheable as answer:
                return answer.response
            return page.replace(CSRF_PLACEHOLDER, generate_csrf())

        return wrapped

    return decorate
