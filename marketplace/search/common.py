"""What both search engines share, so they answer the same query the same way.

- How user text becomes words: at most ``MAX_QUERY_CHARS`` characters and ``MAX_QUERY_WORDS``
  words, letters and digits only. Nothing in the text is query syntax: ``field:value``,
  quotes, ``*``, ``AND`` are plain characters or plain words.
- Which language a locale means (``de_AT`` searches like ``de``) and how each language is
  stemmed: the Snowball stemmers both PostgreSQL and Whoosh ship, stop words dropped.
- Which text of a product a locale sees: its text in that language, else its default text.
- Spelling: correcting words that occur nowhere, and suggesting a likelier spelling, from a
  vocabulary the engine looks up (``Vocabulary``).
- Highlighting titles, the query normalised into plain values, and the facet lists' order.
"""

from __future__ import annotations

import html
import re
import string
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from flask import Flask
from whoosh.analysis import Analyzer, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.lang import NoStemmer, NoStopWords
from whoosh.support.levenshtein import damerau_levenshtein

from marketplace.kv import get_redis, is_embedded
from marketplace.search.types import (
    ATTRIBUTE_FACET_PREFIX,
    FACET_CATEGORY,
    FACET_IN_STOCK,
    FACET_PRICE,
    FACET_RATING,
    FACET_VENDOR,
    FacetValue,
    ProductDocument,
    SearchQuery,
    SearchResult,
    Sort,
)

MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 20
MAX_PER_PAGE = 100
# Letters and digits; underscores and punctuation separate words, as PostgreSQL's parser does.
WORD_PATTERN = r"[^\W_]+"
WORD_RE = re.compile(WORD_PATTERN)

# Languages with a Snowball stemmer and stop words in both engines, and PostgreSQL's name for
# each. Any other language is searched without stemming (PostgreSQL's "simple").
LANGUAGE_CONFIGS = {
    "da": "danish", "de": "german", "en": "english", "es": "spanish", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}
SIMPLE_CONFIG = "simple"
# The stand-in language key for text in a language outside LANGUAGE_CONFIGS.
OTHER_LANGUAGE = "xx"

# Rating facet values: "at least N stars", highest first.
RATING_STARS = (4, 3, 2, 1)
# A separator that can't occur in attribute names typed by vendors (ASCII unit separator).
PAIR_SEPARATOR = "\x1f"


def language_of(locale: str) -> str:
    """The language part of a locale, lower case: ``de_AT`` and ``de-at`` are ``de``."""
    return re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0] or OTHER_LANGUAGE


def language_key(locale: str) -> str:
    """The key a locale's text is stored under: its language when it has a stemmer, else
    ``OTHER_LANGUAGE``."""
    language = language_of(locale)
    return language if language in LANGUAGE_CONFIGS else OTHER_LANGUAGE


def pg_config(language: str) -> str:
    return LANGUAGE_CONFIGS.get(language, SIMPLE_CONFIG)


@lru_cache(maxsize=64)
def analyzer(language: str) -> Analyzer:
    """Words of ``language`` as both engines index them: lower case, stop words dropped,
    stemmed (Snowball, as PostgreSQL's configurations are)."""
    chain = RegexTokenizer(WORD_PATTERN) | LowercaseFilter()
    if language in LANGUAGE_CONFIGS:
        with suppress(NoStopWords):
            chain = chain | StopFilter(lang=language, minsize=1)
        with suppress(NoStemmer):
            chain = chain | StemFilter(lang=language)
    return chain


def terms(text: str, language: str) -> list[str]:
    return [token.text for token in analyzer(language)(text)]


def query_words(text: str) -> list[str]:
    """The words of user text, lower case: never syntax, never more than the limits."""
    return [word.lower() for word in WORD_RE.findall(text[:MAX_QUERY_CHARS])][:MAX_QUERY_WORDS]


def plain_words(text: str) -> list[str]:
    return [word.lower() for word in WORD_RE.findall(text)]


# --- Documents ---------------------------------------------------------------------------


def document_texts(document: ProductDocument) -> dict[str, tuple[str, str]]:
    """Language key -> (title, description), the default locale's text first; of two locales
    with the same key the default's (else the first's) text wins."""
    texts: dict[str, tuple[str, str]] = {}
    locales = [document.default_locale, *document.texts]
    for locale in locales:
        if locale in document.texts:
            texts.setdefault(language_key(locale), tuple(document.texts[locale]))
    if not texts:  # a document must carry its default text; index it as empty rather than fail
        texts[language_key(document.default_locale)] = ("", "")
    return texts


def meta_text(document: ProductDocument) -> str:
    """What a product is found by besides its own text: attribute values, vendor, categories."""
    values = [value for values in document.attributes.values() for value in values]
    return " ".join([*values, document.vendor_name, *document.category_names])


def attribute_pairs(attributes: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted({f"{name}{PAIR_SEPARATOR}{value}"
                   for name, values in attributes.items() for value in values})


def split_pair(pair: str) -> tuple[str, str]:
    name, _, value = pair.partition(PAIR_SEPARATOR)
    return name, value


def vocabulary(document: ProductDocument) -> set[str]:
    """The words spelling correction may offer for a product, as typed (lower case, not
    stemmed): its titles, attribute values, vendor and category names. Descriptions are left
    out: they would triple the vocabulary's size (and index time) for words buyers rarely
    look for, and their typos would become "corrections"."""
    words: set[str] = set()
    for title, _ in document.texts.values():
        words.update(plain_words(title))
    words.update(plain_words(meta_text(document)))
    return {word for word in words if len(word) > 1 and not word.isdigit()}


# --- The query as plain values -------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A SearchQuery checked and normalised: what both engines actually run."""

    words: tuple[str, ...]
    language: str
    category_id: int | None
    vendor_ids: tuple[int, ...]
    price_min: int | None
    price_max: int | None
    # attribute name -> values, names sorted, empty selections dropped
    attributes: tuple[tuple[str, tuple[str, ...]], ...]
    min_rating_x100: int | None
    in_stock_only: bool
    sort: Sort
    page: int
    per_page: int
    price_buckets: tuple[int, ...]
    with_facets: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def has_text(self) -> bool:
        return bool(self.words)

    def with_words(self, words: Iterable[str]) -> Plan:
        return Plan(**{**self.__dict__, "words": tuple(words)})

    def attribute_pairs(self, name: str) -> list[str]:
        return [f"{name}{PAIR_SEPARATOR}{value}" for value in dict(self.attributes)[name]]


def plan(query: SearchQuery) -> Plan:
    attributes = tuple(sorted(
        (name, tuple(sorted(set(values)))) for name, values in query.attributes.items() if values
    ))
    min_rating = query.min_rating if query.min_rating and query.min_rating > 0 else None
    try:
        sort = Sort(query.sort)
    except ValueError:
        sort = Sort.RELEVANCE
    return Plan(
        words=tuple(query_words(query.text or "")),
        language=language_key(query.locale or "en"),
        category_id=query.category_id,
        vendor_ids=tuple(sorted(set(query.vendor_ids))),
        price_min=query.price_min_base,
        price_max=query.price_max_base,
        attributes=attributes,
        min_rating_x100=min(min_rating, 5) * 100 if min_rating else None,
        in_stock_only=bool(query.in_stock_only),
        sort=sort,
        page=max(1, int(query.page or 1)),
        per_page=min(MAX_PER_PAGE, max(1, int(query.per_page or 1))),
        price_buckets=tuple(sorted(set(query.price_buckets))),
        with_facets=query.with_facets,
    )


# --- Spelling -----------------------------------------------------------------------------


class Vocabulary(Protocol):
    """The words an index holds, as typed, with how many products use each."""

    def frequencies(self, words: Iterable[str]) -> dict[str, int]:
        """Counts for those of ``words`` that occur (absent words may be left out)."""

    def near(self, word: str) -> Iterable[str]:
        """Candidates a couple of edits from ``word`` (may include false ones)."""


# Words shorter than this are not corrected: too many real words are one edit apart.
MIN_CORRECTABLE = 3
# Offer a suggestion only for words this rare, when a spelling one edit away is used by at
# least SUGGEST_RATIO times as many products.
SUGGEST_MAX_FREQUENCY = 3
SUGGEST_RATIO = 10
_ALPHABET = string.ascii_lowercase + "äöüßéèàçñ"


def edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion from ``word``."""
    letters = set(_ALPHABET) | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | transposes | replaces | inserts) - {word}


def _correctable(word: str) -> bool:
    return len(word) >= MIN_CORRECTABLE and not word.isdigit()


def _best_correction(word: str, vocabulary: Vocabulary) -> str | None:
    near = {w: n for w, n in vocabulary.frequencies(edits1(word)).items() if n > 0}
    if near:
        return min(near, key=lambda w: (-near[w], w))
    limit = 1 if len(word) <= 4 else 2
    candidates = {w for w in vocabulary.near(word) if w != word}
    distances = {w: damerau_levenshtein(word, w, limit + 1) for w in candidates}
    candidates = {w for w, d in distances.items() if d <= limit}
    if not candidates:
        return None
    counts = vocabulary.frequencies(candidates)
    candidates = {w for w in candidates if counts.get(w, 0) > 0}
    if not candidates:
        return None
    return min(candidates, key=lambda w: (distances[w], -counts[w], w))


def correct(words: Iterable[str], vocabulary: Vocabulary) -> list[str] | None:
    """``words`` with each word the index doesn't hold replaced by its likeliest spelling
    (one edit away first, then two), or None when nothing could be corrected."""
    words = list(words)
    known = vocabulary.frequencies(words)
    corrected, changed = [], False
    for word in words:
        replacement = None
        if _correctable(word) and not known.get(word):
            replacement = _best_correction(word, vocabulary)
        corrected.append(replacement or word)
        changed = changed or replacement is not None
    return corrected if changed else None


def suggest(words: Iterable[str], vocabulary: Vocabulary, language: str) -> list[str] | None:
    """A likelier spelling of ``words`` when one of them is rare and a word one edit away is
    far more common, or None. Spellings that stem alike are not offered: the search already
    found those."""
    words = list(words)
    known = vocabulary.frequencies(words)
    suggested, changed = [], False
    for word in words:
        count = known.get(word, 0)
        replacement = None
        if _correctable(word) and 0 < count <= SUGGEST_MAX_FREQUENCY:
            stem = terms(word, language)
            near = vocabulary.frequencies(edits1(word))
            better = [w for w, n in near.items()
                      if n >= SUGGEST_RATIO * count and terms(w, language) != stem]
            if better:
                replacement = min(better, key=lambda w: (-near[w], w))
        suggested.append(replacement or word)
        changed = changed or replacement is not None
    return suggested if changed else None


# --- Highlighting -------------------------------------------------------------------------


def highlight(title: str, words: Iterable[str], language: str) -> str:
    """``title`` HTML-escaped, with each word that matches one of ``words`` (after stemming in
    ``language``) wrapped in ``<mark>``."""
    wanted = set()
    for word in words:
        wanted.update(terms(word, language))
    parts, position = [], 0
    for match in WORD_RE.finditer(title):
        found = terms(match.group(), language)
        if found and found[0] in wanted:
            parts.append(html.escape(title[position:match.start()]))
            parts.append(f"<mark>{html.escape(match.group())}</mark>")
            position = match.end()
    parts.append(html.escape(title[position:]))
    return "".join(parts)


# --- Facets -------------------------------------------------------------------------------


@dataclass
class FacetCounts:
    """Raw counts from an engine, before they become ordered FacetValue lists."""

    categories: dict[int, int] = field(default_factory=dict)
    category_labels: dict[int, str] = field(default_factory=dict)
    vendors: dict[int, int] = field(default_factory=dict)
    vendor_labels: dict[int, str] = field(default_factory=dict)
    # bucket index -> count. Bucket i holds prices in (bounds[i-1], bounds[i]]: bucket 0 up to
    # and including bounds[0], the last (index len(bounds)) everything above the last bound.
    prices: dict[int, int] = field(default_factory=dict)
    # attribute name -> value -> count
    attributes: dict[str, dict[str, int]] = field(default_factory=dict)
    # whole stars -> products rated at least that
    ratings: dict[int, int] = field(default_factory=dict)
    in_stock: int = 0


def facet_lists(counts: FacetCounts) -> dict[str, list[FacetValue]]:
    """Ordered facet values, counts > 0 only; a facet without values is left out.

    Categories and vendors: most products first, then by label. Attribute values: most
    products first, then by value. Price buckets by index, ratings from 4 stars down.
    """
    facets: dict[str, list[FacetValue]] = {}

    def put(key: str, values: list[FacetValue]) -> None:
        if values:
            facets[key] = values

    put(FACET_CATEGORY, [
        FacetValue(str(cid), n, counts.category_labels.get(cid, ""))
        for cid, n in sorted(counts.categories.items(),
                             key=lambda item: (-item[1], counts.category_labels.get(item[0], ""),
                                               item[0]))
        if n > 0
    ])
    put(FACET_VENDOR, [
        FacetValue(str(vid), n, counts.vendor_labels.get(vid, ""))
        for vid, n in sorted(counts.vendors.items(),
                             key=lambda item: (-item[1], counts.vendor_labels.get(item[0], ""),
                                               item[0]))
        if n > 0
    ])
    put(FACET_PRICE, [FacetValue(str(i), n) for i, n in sorted(counts.prices.items()) if n > 0])
    for name in sorted(counts.attributes):
        values = counts.attributes[name]
        put(ATTRIBUTE_FACET_PREFIX + name, [
            FacetValue(value, n, value)
            for value, n in sorted(values.items(), key=lambda item: (-item[1], item[0])) if n > 0
        ])
    put(FACET_RATING, [FacetValue(str(stars), counts.ratings.get(stars, 0))
                       for stars in RATING_STARS if counts.ratings.get(stars, 0) > 0])
    put(FACET_IN_STOCK, [FacetValue("true", counts.in_stock)] if counts.in_stock > 0 else [])
    return facets


# --- The answer ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an engine found for one plan."""

    product_ids: list[int]
    total: int
    facets: dict[str, list[FacetValue]]
    # product id -> (title in the language it was found in, that language); text searches only
    titles: dict[int, tuple[str, str]]


def empty_result(plan: Plan) -> SearchResult:
    return SearchResult(product_ids=[], total=0, page=plan.page, per_page=plan.per_page)


def answer(plan: Plan, execute: Callable[[Plan], Outcome],
           vocabulary: Callable[[], Vocabulary]) -> SearchResult:
    """Run ``plan`` the way both engines do: when the words find nothing, search the corrected
    words instead (``corrected_text``); when they find something but a far likelier spelling
    exists, offer it (``suggestion``). Titles on the page come back highlighted."""
    outcome = execute(plan)
    corrected_text = suggestion = None
    if plan.has_text and outcome.total == 0:
        corrected = correct(plan.words, vocabulary())
        if corrected:
            retry = execute(plan.with_words(corrected))
            if retry.total:
                outcome, plan = retry, plan.with_words(corrected)
                corrected_text = " ".join(corrected)
    elif plan.has_text:
        better = suggest(plan.words, vocabulary(), plan.language)
        suggestion = " ".join(better) if better else None
    highlights = {pid: highlight(title, plan.words, language)
                  for pid, (title, language) in outcome.titles.items()}
    return SearchResult(
        product_ids=outcome.product_ids, total=outcome.total, page=plan.page,
        per_page=plan.per_page, facets=outcome.facets, corrected_text=corrected_text,
        suggestion=suggestion, highlights=highlights,
    )


# --- One writer at a time -----------------------------------------------------------------

# A writer holds the lock this long unless it renews it (long writes renew as they go), and
# waits this long for another writer to finish.
LOCK_SECONDS = 600
LOCK_WAIT_SECONDS = 3600
_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


class WriteLock:
    def __init__(self, renew: Callable[[], object]) -> None:
        self._renew = renew

    def renew(self) -> None:
        """Restart the lock's expiry; call it now and then during a long write."""
        self._renew()


@contextmanager
def write_lock(app: Flask, name: str) -> Iterator[WriteLock]:
    """Hold the index's write lock: a Redis lock shared by every process and machine, or with
    the embedded fake Redis (one process by definition) a lock of this process."""
    if is_embedded(app):
        with _LOCAL_LOCKS_GUARD:
            lock = _LOCAL_LOCKS.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
            raise TimeoutError(f"search index writer lock {name!r} is busy")
        try:
            yield WriteLock(lambda: None)
        finally:
            lock.release()
        return
    lock = get_redis(app).lock(name, timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS,
                               thread_local=False)
    with lock:
        yield WriteLock(lock.reacquire)
