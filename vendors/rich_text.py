"""Product descriptions: a small, safe subset of HTML, sanitized with nh3.

Vendors may use paragraphs, line breaks, bold and italic text, lists and links (http, https
and mailto only). :func:`sanitize` runs when a description is saved, so the database holds
only allowed markup; :func:`render` runs it again when a page shows one (rows written before
this rule, or by hand, are cleaned too) and turns plain text into paragraphs.
"""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

ALLOWED_TAGS = frozenset({"p", "br", "strong", "em", "ul", "ol", "li", "a"})
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Long enough for a detailed description, short enough that a page stays light.
MAX_DESCRIPTION = 20_000

_TAG = re.compile(r"<[a-zA-Z/!]")


def sanitize(html: str) -> str:
    """``html`` with every tag, attribute and URL scheme outside the allow-list removed
    (scripts and styles with their content); links get ``rel="nofollow noopener"``."""
    cleaned = nh3.clean(
        html or "",
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener",
        strip_comments=True,
    )
    return cleaned.strip()


def _paragraphs(text: str) -> Markup:
    parts = [part.strip() for part in text.replace("\r\n", "\n").split("\n\n") if part.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(line) for line in part.split("\n")))
        for part in parts
    )


def render(description: str | None) -> Markup:
    """A description as safe HTML: sanitized markup as it is, plain text as paragraphs."""
    text = (description or "").strip()
    if not text:
        return Markup("")
    if _TAG.search(text):
        return Markup(sanitize(text))
    return _paragraphs(text)


def plain_text(description: str | None) -> str:
    """The words of a description without markup (search documents, previews)."""
    cleaned = nh3.clean(description or "", tags=set())
    return " ".join(Markup(cleaned).unescape().split())
