"""Reading storefront pages the way a test needs them: titles, facets, crumbs, links."""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

_CARD = re.compile(r'<h3 class="product-title"[^>]*>(.*?)</h3>', re.S)
_SECTION = re.compile(r'<section class="facet" data-facet="([^"]+)">(.*?)</section>', re.S)
_OPTION = re.compile(
    r'<a class="facet-option[^"]*?( selected)?" href="([^"]*)"[^>]*>'
    r'<span class="facet-label">([^<]*)</span> <span class="count">(\d+)</span>'
)
_CRUMB = re.compile(r'<nav class="breadcrumbs".*?</nav>', re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Option:
    label: str
    count: int
    selected: bool
    href: str


def text(fragment: str) -> str:
    return " ".join(html_lib.unescape(_TAG.sub(" ", fragment)).split())


def cards(page: str) -> list[str]:
    """The product titles shown, in order (highlight marks stripped)."""
    return [text(title) for title in _CARD.findall(page)]


def card_titles_html(page: str) -> list[str]:
    return [title.strip() for title in _CARD.findall(page)]


def facets(page: str) -> dict[str, list[Option]]:
    return {
        key: [Option(html_lib.unescape(label), int(count), bool(selected),
                     html_lib.unescape(href))
              for selected, href, label, count in _OPTION.findall(body)]
        for key, body in _SECTION.findall(page)
    }


def facet_counts(page: str, key: str) -> dict[str, int]:
    return {option.label: option.count for option in facets(page).get(key, [])}


def option(page: str, key: str, label: str) -> Option:
    return next(o for o in facets(page)[key] if o.label == label)


def breadcrumbs(page: str) -> list[str]:
    match = _CRUMB.search(page)
    if not match:
        return []
    return [text(item) for item in re.findall(r"<li>(.*?)</li>", match.group(), re.S)]


def active_filters(page: str) -> list[str]:
    block = re.search(r'<ul class="active-filters".*?</ul>', page, re.S)
    if not block:
        return []
    return [text(chip).removesuffix(" × (remove)")
            for chip in re.findall(r'<a class="chip chip-remove"[^>]*>(.*?)</a>', block.group(),
                                   re.S)]


def link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]*)"', page)
    return html_lib.unescape(match.group(1)) if match else None


def result_count(page: str) -> str:
    match = re.search(r'<p id="results-heading"[^>]*>(.*?)</p>', page, re.S)
    return text(match.group(1)) if match else ""
