"""The Whoosh engine: an index directory on this machine (``SEARCH_INDEX_DIR``).

Layout
------
One Whoosh document per product. Each language the product has text in gets its own fields,
analysed in that language (``title_de``, ``body_de``, ``meta_de``: title, description, and
attribute values + vendor + category names). ``langs`` lists those languages and ``deflang``
names the default one. A search in language L matches, word by word (all words must match):

- ``title_L | body_L | meta_L`` (only products with text in L have these), or
- for each default language D: ``deflang:D AND NOT langs:L AND (title_D | body_D | meta_D)``,
  the words analysed in D: a product without text in L is found by its default text, stemmed
  in its own language.

So every product is one document whatever the locale, which keeps counts per product without
deduplication. Whoosh analyses and stores; the query runs on per-segment bitsets kept in memory
(``marketplace.search.bitsets``): each term's postings are read once into a bitset (and an
array of term frequencies), words and paths combine with ``&``/``|``, filters, facet counts and
sort orders run on the segment's values. Relevance is BM25's term-frequency saturation with
idf, titles weighing 3 and meta 1.5, without length normalisation (product titles are short;
computed only for the matching documents). Whoosh's own collectors would walk every matching
posting through Python matcher objects, several times slower on a catalogue this size.

Generations
-----------
``SEARCH_INDEX_DIR/CURRENT`` names the live generation directory (``gen-…``,
``marketplace.search.generations``). ``rebuild`` and ``clear`` write a complete new generation
and switch by replacing ``CURRENT`` with ``os.replace``, then delete the old directory; until
the switch, searches read the old one.
``index`` and ``remove`` commit to the live generation. Every write holds a Redis lock (one
writer across processes and machines sharing the directory) as well as Whoosh's own lock.
Readers check ``CURRENT`` (one ``stat``) and the generation's latest commit (one directory
listing) per search and reopen only what changed, keeping the values of unchanged segments.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import os
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.columns import PickleColumn, VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, TEXT, Schema
from whoosh.index import EmptyIndexError
from whoosh.reading import TermNotFound

from marketplace.search import common
from marketplace.search.bitsets import SegmentValues, bitset, facts
from marketplace.search.generations import Generations
from marketplace.search.types import ProductDocument, SearchQuery, SearchResult, Sort

log = logging.getLogger(__name__)

LANGUAGE_KEYS = (*sorted(common.LANGUAGE_CONFIGS), common.OTHER_LANGUAGE)
TITLE_BOOST, META_BOOST = 3.0, 1.5
BM25_K1 = 1.2
# Read postings a block at a time (see _read_postings).
BLOCK_READS = True
PROGRESS_EVERY = 1000
# Memory for cached bitsets (term matches, filter values) per segment.
SEGMENT_CACHE_BYTES = 64 << 20
# Writers leave segments as separate files (compound=False): Whoosh copies every file of a
# compound segment into memory when it opens it (a BytesIO over the mmap), about 100 MB per
# process for 200,000 products; separate files are read through the OS page cache instead.


def schema() -> Schema:
    fields = {
        "pid": ID(stored=True, unique=True),
        # Product values for filters, facets and sorting, read a segment at a time.
        "facts": COLUMN(PickleColumn(VarBytesColumn())),
        "langs": KEYWORD(scorable=True),
        "deflang": ID(stored=True),
        # Every word as typed, for spelling correction (never stemmed). Scorable only so the
        # field has a lengths column: without one Whoosh stats a file for every posting.
        "words": KEYWORD(scorable=True),
    }
    for key in LANGUAGE_KEYS:
        analyzer = common.analyzer(key)
        fields[f"title_{key}"] = TEXT(analyzer=analyzer, phrase=False, stored=True)
        fields[f"body_{key}"] = TEXT(analyzer=analyzer, phrase=False)
        fields[f"meta_{key}"] = TEXT(analyzer=analyzer, phrase=False)
    return Schema(**fields)


def document_fields(document: ProductDocument) -> dict:
    texts = common.document_texts(document)
    meta = common.meta_text(document)
    fields = {
        "pid": str(document.product_id),
        "facts": facts(document, common.attribute_pairs(document.attributes)),
        "langs": " ".join(texts),
        "deflang": next(iter(texts)),
        "words": " ".join(sorted(common.vocabulary(document))),
    }
    for key, (title, body) in texts.items():
        fields[f"title_{key}"] = title
        fields[f"body_{key}"] = body
        fields[f"meta_{key}"] = meta
    return fields


@dataclass(frozen=True)
class _Path:
    """One way a product can match the words: by its text in ``language``. A ``fallback``
    path is for products without text in the search language whose default is ``language``."""

    language: str
    fallback: bool
    # per word: the (field, term, boost) alternatives, any of which matches it
    words: tuple[tuple[tuple[str, str, float], ...], ...]

    def terms(self) -> set[tuple[str, str, float]]:
        return {alternative for alternatives in self.words for alternative in alternatives}


@dataclass
class _Postings:
    """One term's postings in one segment: the documents as a bitset and as an ascending
    array, with the term frequency's BM25 saturation ``tf (k1 + 1) / (tf + k1)`` in each."""

    mask: int
    docs: array
    saturated: array

    @property
    def nbytes(self) -> int:
        return self.mask.bit_length() // 8 + 12 * len(self.docs) + 64


def _read_postings(matcher, docs: array, frequencies: array) -> None:
    """Append a term's document numbers and frequencies, a block at a time when the matcher
    is the Whoosh 3 codec's (its block reads are internal, hence the fallback to the public
    posting-at-a-time interface: about ten times slower on long postings)."""
    if BLOCK_READS and isinstance(matcher, W3LeafMatcher):
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            docs.extend(matcher._ids)
            frequencies.extend(matcher._weights)
            matcher._next_block()
        return
    while matcher.is_active():
        docs.append(matcher.id())
        frequencies.append(matcher.weight())
        matcher.next()


@dataclass
class _Segment:
    values: SegmentValues
    live: int
    offset: int
    reader: object


class _Vocabulary:
    def __init__(self, searcher) -> None:
        self._reader = searcher.reader()

    def frequencies(self, words: Iterable[str]) -> dict[str, int]:
        found = {}
        for word in words:
            count = self._reader.doc_frequency("words", word)
            if count:
                found[word] = count
        return found

    def near(self, word: str) -> set[str]:
        near: set[str] = set()
        for reader, _ in self._reader.leaf_readers():
            near.update(reader.terms_within("words", word, 2, prefix=1))
        return near


class _ReadState:
    """One opened generation: its searcher and the values of its segments."""

    def __init__(self, stamp: tuple, directory: Path) -> None:
        self.stamp = stamp
        self.directory = directory
        self.index = whoosh_index.open_dir(str(directory))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self.segments: list[_Segment] = []
        self.default_languages: list[str] = []
        # (field, term) -> inverse document frequency, for this searcher's documents
        self.idf: dict[tuple[str, str], float] = {}


class WhooshBackend:
    def __init__(self, app: Flask, index_dir: str | os.PathLike | None = None) -> None:
        self.app = app
        self.root = Path(index_dir or app.config["SEARCH_INDEX_DIR"]).resolve()
        self._generations = Generations(self.root)
        self._lock = threading.RLock()
        self._state: _ReadState | None = None
        # segment id -> its values, shared by successive searchers of this process
        self._values: dict[str, SegmentValues] = {}
        self._live: dict[tuple[str, int], int] = {}
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:16]
        self._lock_name = f"marketplace:search:whoosh:{digest}"

    # --- Reading ----------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        plan = common.plan(query)
        with self._lock:
            try:
                return self._answer(plan)
            except (FileNotFoundError, EmptyIndexError):
                # A rebuild deleted the generation under us: reopen the new one, once.
                self._close_state()
                return self._answer(plan)

    def _answer(self, plan: common.Plan) -> SearchResult:
        state = self._read_state()
        if state is None:
            return common.empty_result(plan)
        return common.answer(plan, lambda p: self._execute(state, p),
                             lambda: _Vocabulary(state.searcher))

    def _read_state(self) -> _ReadState | None:
        stamp = self._generations.stamp()
        directory = self._generations.current() if stamp is not None else None
        if directory is None:
            self._close_state()
            return None
        state = self._state
        if state is None or state.stamp != stamp:
            self._close_state()
            state = self._state = _ReadState(stamp, directory)
            self._load_segments(state)
        elif not state.searcher.up_to_date():
            # A fresh searcher rather than Searcher.refresh(): refresh reuses segment readers
            # by segment id and so keeps their old deletions. Segment values are reused anyway.
            state.searcher.close()
            state.searcher = state.index.searcher()
            self._load_segments(state)
        return state

    def _close_state(self) -> None:
        if self._state is not None:
            self._state.searcher.close()
            self._state = None

    def _load_segments(self, state: _ReadState) -> None:
        segments, keep = [], set()
        for reader, offset in state.searcher.reader().leaf_readers():
            segment = reader.segment()
            if segment is None:  # an index without segments (EmptyReader)
                continue
            segid = f"{state.directory.name}/{segment.segment_id()}"
            keep.add(segid)
            values = self._values.get(segid)
            if values is None:
                values = SegmentValues(reader.column_reader("facts"), SEGMENT_CACHE_BYTES)
                self._values[segid] = values
            live_key = (segid, segment.deleted_count() if segment.has_deletions() else 0)
            live = self._live.get(live_key)
            if live is None:
                live = values.present
                if segment.has_deletions():
                    live &= ~bitset(segment.deleted_docs(), values.size)
                self._live[live_key] = live
            segments.append(_Segment(values, live, offset, reader))
        for segid in set(self._values) - keep:
            del self._values[segid]
        self._live = {key: mask for key, mask in self._live.items() if key[0] in keep}
        state.segments = segments
        state.default_languages = sorted(state.searcher.reader().field_terms("deflang"))

    # --- Answering a plan -------------------------------------------------------------------

    @staticmethod
    def _paths(state: _ReadState, plan: common.Plan) -> list[_Path]:
        """The ways a product can match the words (see the module docstring); empty when no
        word is searchable in any language (only stop words)."""
        paths = []
        for language in dict.fromkeys([plan.language, *state.default_languages]):
            fields = [(f"title_{language}", TITLE_BOOST), (f"body_{language}", 1.0),
                      (f"meta_{language}", META_BOOST)]
            fields = [(name, boost) for name, boost in fields if name in state.schema]
            words = []
            for word in plan.words:
                stems = common.terms(word, language)
                if stems and fields:
                    words.append(tuple((name, stems[0], boost) for name, boost in fields))
            if words:
                paths.append(_Path(language, language != plan.language, tuple(words)))
        return paths

    @staticmethod
    def _postings(segment: _Segment, field: str, text: str) -> _Postings:
        reader, size = segment.reader, segment.values.size

        def read() -> _Postings:
            docs, frequencies = array("i"), array("f")
            try:
                matcher = reader.postings(field, text)
            except TermNotFound:
                return _Postings(0, docs, frequencies)
            _read_postings(matcher, docs, frequencies)
            saturated = array("d", [tf * (BM25_K1 + 1) / (tf + BM25_K1) for tf in frequencies])
            return _Postings(bitset(docs, size), docs, saturated)

        return segment.values.cached(("postings", field, text), read, lambda p: p.nbytes)

    def _path_mask(self, segment: _Segment, path: _Path, plan: common.Plan) -> int:
        mask = -1
        for alternatives in path.words:
            matched = 0
            for field, text, _ in alternatives:
                matched |= self._postings(segment, field, text).mask
            mask &= matched
        if path.fallback:
            mask &= self._postings(segment, "deflang", path.language).mask
            mask &= ~self._postings(segment, "langs", plan.language).mask
        return mask

    def _ranked(self, state: _ReadState, segment: _Segment, paths: list[_Path],
                path_masks: list[int], final: int, limit: int) -> list[tuple[tuple, int]]:
        """The segment's best ``limit`` documents of ``final`` by BM25 (term frequency
        saturation, no length normalisation; titles weigh 3, meta 1.5), as (key, docnum)."""
        scores: dict[int, float] = {}
        get = scores.get
        for path, path_mask in zip(paths, path_masks, strict=True):
            members = final & path_mask
            if not members:
                continue
            bits = None
            for field, text, boost in path.terms():
                postings = self._postings(segment, field, text)
                matched = postings.mask & members
                if not matched:
                    continue
                weight = boost * self._idf(state, field, text)
                docs, saturated = postings.docs, postings.saturated
                if matched == postings.mask:  # every posting counts (no filter removed any)
                    pairs = zip(docs, saturated, strict=True)
                elif matched.bit_count() * 8 < len(docs):  # a few: find them in the postings
                    pairs = ((d, saturated[bisect_left(docs, d)])
                             for d in segment.values.members(matched))
                else:
                    bits = bits or members.to_bytes(members.bit_length() // 8 + 1, "little")
                    pairs = ((d, c) for d, c in zip(docs, saturated, strict=True)
                             if d >> 3 < len(bits) and bits[d >> 3] >> (d & 7) & 1)
                for docnum, contribution in pairs:
                    scores[docnum] = get(docnum, 0.0) + weight * contribution
        if not scores:
            return []
        # The best ``limit`` by score, ties by product id: sorts with keys looked up in C.
        threshold = heapq.nlargest(limit, scores.values())[-1]
        best = [d for d, score in scores.items() if score >= threshold]
        pid = segment.values.product_id
        best.sort(key=pid.__getitem__)
        best.sort(key=scores.__getitem__, reverse=True)
        return [((-scores[d], pid[d]), segment.offset + d) for d in best[:limit]]

    @staticmethod
    def _idf(state: _ReadState, field: str, text: str) -> float:
        key = (field, text)
        if key not in state.idf:
            frequency = state.searcher.reader().doc_frequency(field, text)
            documents = state.searcher.doc_count()
            state.idf[key] = math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))
        return state.idf[key]

    @staticmethod
    def _filters(values: SegmentValues, plan: common.Plan) -> dict[str, int]:
        """Each filter of the plan as a bitset, keyed by the facet it belongs to."""
        filters = {}
        if plan.category_id is not None:
            filters[common.FACET_CATEGORY] = values.mask("category", plan.category_id)
        if plan.vendor_ids:
            filters[common.FACET_VENDOR] = values.any_of("vendor", plan.vendor_ids)
        if plan.price_min is not None or plan.price_max is not None:
            filters[common.FACET_PRICE] = values.price_between(plan.price_min, plan.price_max)
        for name, _ in plan.attributes:
            filters[common.ATTRIBUTE_FACET_PREFIX + name] = values.any_of(
                "pair", plan.attribute_pairs(name))
        if plan.min_rating_x100:
            filters[common.FACET_RATING] = values.rating_mask(plan.min_rating_x100)
        if plan.in_stock_only:
            filters[common.FACET_IN_STOCK] = values.in_stock_mask()
        return filters

    def _execute(self, state: _ReadState, plan: common.Plan) -> common.Outcome:
        paths = self._paths(state, plan) if plan.has_text else []
        if plan.has_text and not paths:
            return common.Outcome([], 0, {}, {})
        counts = common.FacetCounts()
        limit = plan.offset + plan.per_page
        candidates: list[tuple[tuple, int]] = []
        total = 0
        for segment in state.segments:
            base = segment.live
            if paths:
                path_masks = [self._path_mask(segment, path, plan) for path in paths]
                matched = 0
                for mask in path_masks:
                    matched |= mask
                base &= matched
            filters = self._filters(segment.values, plan)
            final = base
            for mask in filters.values():
                final &= mask
            total += final.bit_count()
            if plan.with_facets:
                self._count_facets(segment.values, plan, base, filters, final, counts)
            if paths and plan.sort == Sort.RELEVANCE:
                candidates += self._ranked(state, segment, paths, path_masks, final, limit)
            else:
                candidates += [(key, segment.offset + docnum) for key, docnum
                               in segment.values.top(final, plan.sort, limit)]
        docnums = [docnum for _, docnum in heapq.nsmallest(limit, candidates)][plan.offset:]
        ids, titles = [], {}
        for docnum in docnums:
            segment = self._segment_of(state, docnum)
            pid = segment.values.product_id[docnum - segment.offset]
            ids.append(pid)
            if plan.has_text:
                titles[pid] = self._title(state, docnum, plan.language)
        facets = common.facet_lists(counts) if plan.with_facets else {}
        return common.Outcome(ids, total, facets, titles)

    @staticmethod
    def _segment_of(state: _ReadState, docnum: int) -> _Segment:
        for segment in reversed(state.segments):
            if docnum >= segment.offset:
                return segment
        raise LookupError(docnum)

    @staticmethod
    def _title(state: _ReadState, docnum: int, language: str) -> tuple[str, str]:
        """The title the product was found by: in ``language``, else its default one."""
        stored = state.searcher.stored_fields(docnum)
        if f"title_{language}" not in stored:
            language = stored.get("deflang", language)
        return stored.get(f"title_{language}", ""), language

    @staticmethod
    def _count_facets(values: SegmentValues, plan: common.Plan, base: int,
                      filters: dict[str, int], final: int, counts: common.FacetCounts) -> None:
        """Add this segment's facet counts to ``counts``: each facet counted with every filter
        but its own (disjunctive faceting)."""

        def without(key: str) -> int:
            mask = base
            for other, filter_mask in filters.items():
                if other != key:
                    mask &= filter_mask
            return mask

        in_category = without(common.FACET_CATEGORY)
        for child in values.children.get(plan.category_id, ()):
            n = (in_category & values.mask("category", child)).bit_count()
            if n:
                counts.categories[child] = counts.categories.get(child, 0) + n
                counts.category_labels[child] = values.category_names[child]

        for vendor, n in values.count_values("vendor", without(common.FACET_VENDOR)).items():
            counts.vendors[vendor] = counts.vendors.get(vendor, 0) + n
            counts.vendor_labels[vendor] = values.vendor_names[vendor]

        if plan.price_buckets:
            priced = without(common.FACET_PRICE)
            below = 0
            for i, bound in enumerate(plan.price_buckets):
                upto = (priced & values.price_at_most(bound)).bit_count()
                counts.prices[i] = counts.prices.get(i, 0) + upto - below
                below = upto
            last = len(plan.price_buckets)
            counts.prices[last] = counts.prices.get(last, 0) + priced.bit_count() - below

        selected = {name for name, _ in plan.attributes}
        masks = {name: without(common.ATTRIBUTE_FACET_PREFIX + name) for name in selected}
        for mask, names in [(final, None), *((masks[n], {n}) for n in sorted(selected))]:
            for pair, n in values.count_values("pair", mask).items():
                name, value = common.split_pair(pair)
                if (name in names) if names is not None else (name not in selected):
                    by_value = counts.attributes.setdefault(name, {})
                    by_value[value] = by_value.get(value, 0) + n

        rated = without(common.FACET_RATING)
        for stars in common.RATING_STARS:
            n = (rated & values.rating_mask(stars * 100)).bit_count()
            counts.ratings[stars] = counts.ratings.get(stars, 0) + n

        counts.in_stock += (without(common.FACET_IN_STOCK) & values.in_stock_mask()).bit_count()

    # --- Writing ----------------------------------------------------------------------------

    def index(self, documents: Iterable[ProductDocument]) -> int:
        with self._write_lock():
            ix = self._writable_index()
            writer = ix.writer(timeout=60, compound=False)
            written = 0
            try:
                for document in documents:
                    writer.update_document(**document_fields(document))
                    written += 1
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            return written

    def remove(self, product_ids: Iterable[int]) -> int:
        with self._write_lock():
            ix = self._writable_index()
            writer = ix.writer(timeout=60, compound=False)
            removed = 0
            try:
                for product_id in product_ids:
                    removed += writer.delete_by_term("pid", str(product_id))
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            return removed

    def clear(self) -> None:
        self.rebuild(())

    def rebuild(self, documents: Iterable[ProductDocument],
                progress: Callable[[int], None] | None = None) -> int:
        with self._write_lock() as lock:
            directory = self._generations.new()
            try:
                ix = whoosh_index.create_in(str(directory), schema())
                writer = ix.writer(limitmb=256, compound=False)
                written = 0
                try:
                    for document in documents:
                        writer.add_document(**document_fields(document))
                        written += 1
                        if written % PROGRESS_EVERY == 0:
                            lock.renew()
                            if progress:
                                progress(written)
                except BaseException:
                    writer.cancel()
                    raise
                if progress and written % PROGRESS_EVERY:
                    progress(written)
                lock.renew()  # merging a big index into one segment takes a while
                writer.commit(optimize=True)
                ix.close()
            except BaseException:
                self._generations.discard(directory)
                raise
            self._generations.switch_to(directory)
            log.info("search index rebuilt: %d products in %s", written, directory.name)
            return written

    def _write_lock(self):
        return common.write_lock(self.app, self._lock_name)

    def _writable_index(self):
        """The live generation's index, creating an empty first generation if there is none.
        Call with the write lock held."""
        directory = self._generations.current()
        if directory is not None and whoosh_index.exists_in(str(directory)):
            return whoosh_index.open_dir(str(directory))
        directory = self._generations.new()
        ix = whoosh_index.create_in(str(directory), schema())
        self._generations.switch_to(directory)
        return ix
