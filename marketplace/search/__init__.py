"""The search facade: the only door to the product index.

Code calls these functions, never an engine directly. ``SEARCH_BACKEND`` picks the engine:
``whoosh`` (default; an index directory on this machine, ``SEARCH_INDEX_DIR``) or ``postgres``
(PostgreSQL full-text search, for deployments with several web machines that can't share a
directory). Both answer the same ``SearchQuery`` with the same ``SearchResult``.

Writes (``index``, ``remove``, ``rebuild``) run in jobs on the ``search`` queue, one writer at
a time (a Redis lock), so two workers never fight over the index. Reads may run anywhere and
keep answering while the index is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from flask import Flask, current_app

from marketplace.search import tables  # noqa: F401  (the PostgreSQL engine's tables on db.metadata)
from marketplace.search.types import (
    ProductDocument,
    SearchQuery,
    SearchResult,
    Sort,
)

__all__ = [
    "ProductDocument", "SearchBackend", "SearchQuery", "SearchResult", "Sort",
    "backend", "index", "remove", "rebuild", "search",
]


class SearchBackend(Protocol):
    def search(self, query: SearchQuery) -> SearchResult:
        """Answer ``query``; never raises for odd text (syntax characters are literal)."""

    def index(self, documents: Iterable[ProductDocument]) -> int:
        """Add or replace these products' documents; return how many were written."""

    def remove(self, product_ids: Iterable[int]) -> int:
        """Drop these products from the index (unknown ids are fine)."""

    def rebuild(self, documents: Iterable[ProductDocument],
                progress: Callable[[int], None] | None = None) -> int:
        """Replace the whole index with ``documents``; searches keep answering from the old
        index until the new one is complete. ``progress`` gets the count written so far."""

    def clear(self) -> None:
        """Empty the index."""


def backend(app: Flask | None = None) -> SearchBackend:
    """This app's engine, built once per process."""
    app = app or current_app._get_current_object()
    engine = app.extensions.get("marketplace.search")
    if engine is None:
        name = app.config.get("SEARCH_BACKEND", "whoosh")
        if name == "postgres":
            from marketplace.search.postgres import PostgresBackend

            engine = PostgresBackend(app)
        elif name == "whoosh":
            from marketplace.search.whoosh import WhooshBackend

            engine = WhooshBackend(app)
        else:
            raise RuntimeError(f"SEARCH_BACKEND must be 'whoosh' or 'postgres', not {name!r}")
        app.extensions["marketplace.search"] = engine
    return engine


def search(query: SearchQuery) -> SearchResult:
    return backend().search(query)


def index(documents: Iterable[ProductDocument]) -> int:
    return backend().index(documents)


def remove(product_ids: Iterable[int]) -> int:
    return backend().remove(product_ids)


def rebuild(documents: Iterable[ProductDocument],
            progress: Callable[[int], None] | None = None) -> int:
    return backend().rebuild(documents, progress)
