"""Product values of one Whoosh segment, held in memory for filtering, faceting and sorting.

Whoosh finds the documents that match the words; everything else (filters, facet counts,
sort orders) runs here, read once per segment and kept while the segment lives. A Whoosh
segment never changes after it is written (deletions are kept beside it), so the values stay
valid until a merge replaces the segment, and a commit that adds a small segment only costs
reading that segment.

Sets of documents are bitsets: a Python ``int`` whose bit ``d`` is set when document ``d``
(segment-relative) is in the set. Intersections and counts are then single big-integer
operations in C (``a & b``, ``int.bit_count``), not a Python loop per matching document; a
category page over 200,000 products counts each facet value in microseconds.
"""

from __future__ import annotations

import datetime as dt
import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import chain, compress, islice
from typing import Any

from marketplace.search.types import ProductDocument, Sort

# What each Whoosh document stores for this module (one tuple, the field "facts").
FACTS_FIELDS = (
    "product_id", "vendor_id", "vendor_name", "category_path", "category_names",
    "attribute_pairs", "price_base_minor", "rating_x100", "rating_count", "in_stock",
    "created_us",
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Facets with at most this many values are counted with one bitset intersection per value;
# with more values a single pass over the documents (in C: compress + Counter) is cheaper.
MASK_COUNT_LIMIT = 64
# A result set at most this large (or 1/32 of the segment) is sorted directly; a larger one is
# read off the precomputed sort order until the page is full.
SPARSE_LIMIT = 4000
# Documents between the precomputed "cheaper than price p" bitsets.
PRICE_CHUNK = 2048
# Documents read at a time when a segment's values are loaded.
LOAD_CHUNK = 8192

_BITS_TO_BYTES = bytes.maketrans(b"01", b"\x00\x01")
# byte value -> the positions of its set bits
_BIT_POSITIONS = [tuple(bit for bit in range(8) if byte >> bit & 1) for byte in range(256)]
_NO_FACTS = (0, 0, "", (), (), (), 0, 0, 0, False, 0)
SortKey = tuple


def facts(document: ProductDocument, pairs: Sequence[str]) -> tuple:
    created = document.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return (
        document.product_id, document.vendor_id, document.vendor_name,
        tuple(document.category_path), tuple(document.category_names), tuple(pairs),
        document.price_base_minor, document.rating_x100, document.rating_count,
        bool(document.in_stock), (created - _EPOCH) // dt.timedelta(microseconds=1),
    )


def bitset(docnums: Iterable[int], size: int) -> int:
    bits = bytearray((size >> 3) + 1)
    for docnum in docnums:
        bits[docnum >> 3] |= 1 << (docnum & 7)
    return int.from_bytes(bits, "little")


def _bitset_bytes(mask: int) -> int:
    return mask.bit_length() // 8 + 32


class ByteBudget:
    """A least-recently-used cache (of bitsets, by default) that keeps the total size of its
    values under a budget."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any],
            size: Callable[[Any], int] = _bitset_bytes) -> Any:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
            return item[0]
        value = build()
        nbytes = size(value)
        self._items[key] = (value, nbytes)
        self.used += nbytes
        while self.used > self.max_bytes and len(self._items) > 1:
            _, (_, old_bytes) = self._items.popitem(last=False)
            self.used -= old_bytes
        return value


class SegmentValues:
    """Every product value of one segment, as arrays indexed by document number."""

    def __init__(self, rows: Iterable[tuple | None], cache_bytes: int = 64 << 20) -> None:
        """``rows``: each document's facts (see ``facts``) in document order, None for a
        document without. Read a chunk at a time, so loading never holds every row at once."""
        self.product_id, self.vendor, self.price = array("q"), array("q"), array("q")
        self.rating, self.rating_count, self.created = array("q"), array("q"), array("q")
        self.in_stock = bytearray()
        self.paths: list[tuple[int, ...]] = []
        self.pairs: list[tuple[str, ...]] = []
        self.vendor_names: dict[int, str] = {}
        self.category_names: dict[int, str] = {}
        # parent category (None for the roots) -> child ids seen in this segment
        self.children: defaultdict[int | None, set[int]] = defaultdict(set)
        # Equal paths, attribute lists and attribute strings share one object each.
        canonical: dict[Any, Any] = {}

        def shared(values: tuple) -> tuple:
            found = canonical.get(values)
            if found is None:
                found = canonical[values] = tuple(canonical.setdefault(v, v) for v in values)
            return found

        present: list[int] = []
        iterator, size = iter(rows), 0
        while chunk := list(islice(iterator, LOAD_CHUNK)):
            present += [size + i for i, row in enumerate(chunk) if row is not None]
            chunk = [row if row is not None else _NO_FACTS for row in chunk]
            (pids, vendors, vendor_names, paths, names, pairs, prices, ratings, rating_counts,
             in_stock, created) = zip(*chunk, strict=True)
            self.product_id.extend(pids)
            self.vendor.extend(vendors)
            self.price.extend(prices)
            self.rating.extend(ratings)
            self.rating_count.extend(rating_counts)
            self.created.extend(created)
            self.in_stock.extend(in_stock)
            self.vendor_names.update(zip(vendors, vendor_names, strict=True))
            self.paths += map(shared, paths)
            self.pairs += map(shared, pairs)
            for path, path_names in set(zip(paths, names, strict=True)):
                parent = None
                for cid, name in zip(path, path_names, strict=False):
                    self.children[parent].add(cid)
                    self.category_names[cid] = name
                    parent = cid
            size += len(chunk)
        self.size = size
        self.present = bitset(present, size)
        self.count = len(present)
        # How many distinct values each kind has (choosing how to count them needs no more).
        self._distinct = {
            "vendor": len(self.vendor_names),
            "pair": len({pair for pairs in set(self.pairs) for pair in pairs}),
        }
        self._docs: dict[str, dict[Hashable, array]] = {}
        self._masks = ByteBudget(cache_bytes)
        self._orders: dict[Sort, array] = {}
        self._ranks: dict[Sort, array] = {}
        self._price: tuple[list[int], list[int]] | None = None
        self._reversed: dict[str, Sequence] = {}
        self._last_members: tuple[int, list[int]] = (0, [])

    # --- Sets of documents ------------------------------------------------------------------

    def _documents(self, kind: str) -> dict[Hashable, array]:
        """Value -> document numbers, for "vendor", "category" (any category on the path) or
        "pair"; built on first use."""
        if kind not in self._docs:
            groups: defaultdict[Hashable, array] = defaultdict(lambda: array("i"))
            source = {"vendor": self.vendor, "category": self.paths, "pair": self.pairs}[kind]
            for docnum, value in compress(enumerate(source), self._present_bytes()):
                groups[value].append(docnum)
            if kind == "vendor":
                self._docs[kind] = dict(groups)
            else:  # grouped by the whole path or list: one entry per category or pair
                documents: defaultdict[Hashable, array] = defaultdict(lambda: array("i"))
                for values, docnums in groups.items():
                    for value in values:
                        documents[value].extend(docnums)
                self._docs[kind] = dict(documents)
        return self._docs[kind]

    def _present_bytes(self) -> bytes:
        return self._selectors(self.present)[::-1]

    def mask(self, kind: str, value: Hashable) -> int:
        """Documents whose ``kind`` ("vendor", "category" (anywhere on the path), "pair")
        has ``value``."""
        docs = self._documents(kind).get(value)
        if docs is None:
            return 0
        return self._masks.get((kind, value), lambda: bitset(docs, self.size))

    def cached(self, key: Hashable, build: Callable[[], Any],
               size: Callable[[Any], int] = _bitset_bytes) -> Any:
        """A value kept in this segment's cache (e.g. a term's postings), ``size(value)``
        bytes large."""
        return self._masks.get(key, build, size)

    def any_of(self, kind: str, values: Iterable[Hashable]) -> int:
        result = 0
        for value in values:
            result |= self.mask(kind, value)
        return result

    def in_stock_mask(self) -> int:
        return self._masks.get(("in_stock",), lambda: bitset(
            compress(range(self.size), self.in_stock), self.size) & self.present)

    def rating_mask(self, at_least_x100: int) -> int:
        return self._masks.get(("rating", at_least_x100), lambda: bitset(
            compress(range(self.size), map(at_least_x100.__le__, self.rating)), self.size)
            & self.present)

    def _price_index(self) -> tuple[list[int], list[int]]:
        # Prices in ascending order, and "the first k documents in price order" as bitsets
        # every PRICE_CHUNK documents, so any price range costs at most one chunk.
        if self._price is None:
            order = self._order(Sort.PRICE_ASC)
            prices = list(map(self.price.__getitem__, order))
            bits = bytearray((self.size >> 3) + 1)
            prefixes = [0]
            for i, docnum in enumerate(order, 1):
                bits[docnum >> 3] |= 1 << (docnum & 7)
                if i % PRICE_CHUNK == 0:
                    prefixes.append(int.from_bytes(bits, "little"))
            self._price = (prices, prefixes)
        return self._price

    def _cheapest(self, k: int) -> int:
        _, prefixes = self._price_index()
        chunk = k // PRICE_CHUNK
        order = self._order(Sort.PRICE_ASC)
        return prefixes[chunk] | bitset(order[chunk * PRICE_CHUNK:k], self.size)

    def price_at_most(self, bound: int) -> int:
        prices, _ = self._price_index()
        return self._cheapest(bisect_right(prices, bound))

    def price_between(self, low: int | None, high: int | None) -> int:
        prices, _ = self._price_index()
        start = bisect_left(prices, low) if low is not None else 0
        end = bisect_right(prices, high) if high is not None else len(prices)
        if end <= start:
            return 0
        return self._cheapest(end) & ~self._cheapest(start)

    # --- Reading sets -----------------------------------------------------------------------

    def _selectors(self, mask: int) -> bytes:
        # One byte (0 or 1) per document, highest document number first.
        return format(mask, f"0{self.size}b").encode("ascii").translate(_BITS_TO_BYTES)

    def _reversed_values(self, kind: str) -> Sequence:
        if kind not in self._reversed:
            source = {"vendor": self.vendor, "pair": self.pairs}[kind]
            self._reversed[kind] = source[::-1]
        return self._reversed[kind]

    def _sparse(self, mask: int) -> bool:
        return mask.bit_count() * 16 < self.size

    def members(self, mask: int) -> list[int]:
        """The document numbers in ``mask`` (in no particular order)."""
        if not mask:
            return []
        last_mask, last_members = self._last_members
        if mask == last_mask:  # facets often ask twice for the same set
            return list(last_members)
        members = self._members(mask)
        self._last_members = (mask, members)
        return list(members)

    def _members(self, mask: int) -> list[int]:
        if self._sparse(mask):
            # Only the non-zero bytes, found in C, are looked at in Python.
            data = mask.to_bytes(mask.bit_length() // 8 + 1, "little")
            return [i * 8 + bit for i in compress(range(len(data)), data)
                    for bit in _BIT_POSITIONS[data[i]]]
        return list(compress(range(self.size - 1, -1, -1), self._selectors(mask)))

    def count_values(self, kind: str, mask: int) -> Counter:
        """How many documents of ``mask`` have each value of ``kind`` ("vendor" or "pair")."""
        if not mask:
            return Counter()
        if self._distinct[kind] <= MASK_COUNT_LIMIT:  # one intersection per value
            counts = Counter()
            for value in self._documents(kind):
                n = (mask & self.mask(kind, value)).bit_count()
                if n:
                    counts[value] = n
            return counts
        if self._sparse(mask):  # look up the few documents' values
            source = {"vendor": self.vendor, "pair": self.pairs}[kind]
            values = map(source.__getitem__, self.members(mask))
        else:  # one pass over every document's value, in C
            values = compress(self._reversed_values(kind), self._selectors(mask))
        return Counter(chain.from_iterable(values) if kind == "pair" else values)

    # --- Sorting ----------------------------------------------------------------------------

    def sort_key(self, sort: Sort) -> Callable[[int], SortKey]:
        """The key ordering documents for ``sort`` (RELEVANCE without text: in stock first,
        then newest). Ties end on the product id, so the order is total and engines agree."""
        pid, price, created = self.product_id, self.price, self.created
        rating, rating_count, in_stock = self.rating, self.rating_count, self.in_stock
        keys: dict[Sort, Callable[[int], SortKey]] = {
            Sort.PRICE_ASC: lambda d: (price[d], pid[d]),
            Sort.PRICE_DESC: lambda d: (-price[d], pid[d]),
            Sort.NEWEST: lambda d: (-created[d], -pid[d]),
            Sort.RATING: lambda d: (-rating[d], -rating_count[d], pid[d]),
            Sort.RELEVANCE: lambda d: (-in_stock[d], -created[d], -pid[d]),
        }
        return keys[sort]

    def _order(self, sort: Sort) -> array:
        """Present documents in ``sort`` order: stable sorts from the last key to the first,
        each on one column (keys looked up in C, not in a Python function per document)."""
        if sort not in self._orders:
            passes = {  # (column, descending), least significant first
                Sort.PRICE_ASC: [(self.product_id, False), (self.price, False)],
                Sort.PRICE_DESC: [(self.product_id, False), (self.price, True)],
                Sort.NEWEST: [(self.product_id, True), (self.created, True)],
                Sort.RATING: [(self.product_id, False), (self.rating_count, True),
                              (self.rating, True)],
                Sort.RELEVANCE: [(self.product_id, True), (self.created, True),
                                 (self.in_stock, True)],
            }[sort]
            order = self.members(self.present)
            for column, descending in passes:
                order.sort(key=column.__getitem__, reverse=descending)
            self._orders[sort] = array("i", order)
        return self._orders[sort]

    def _rank(self, sort: Sort) -> array:
        if sort not in self._ranks:
            rank = array("i", bytes(4 * self.size))
            for position, docnum in enumerate(self._order(sort)):
                rank[docnum] = position
            self._ranks[sort] = rank
        return self._ranks[sort]

    def top(self, mask: int, sort: Sort, k: int) -> list[tuple[SortKey, int]]:
        """The first ``k`` documents of ``mask`` in ``sort`` order, as (key, document number)."""
        count = mask.bit_count()
        if not count or k <= 0:
            return []
        if count <= max(SPARSE_LIMIT, self.size >> 5):
            chosen = heapq.nsmallest(k, self.members(mask), key=self._rank(sort).__getitem__)
        else:
            bits = mask.to_bytes((self.size >> 3) + 1, "little")
            chosen = []
            for docnum in self._order(sort):
                if bits[docnum >> 3] >> (docnum & 7) & 1:
                    chosen.append(docnum)
                    if len(chosen) == k:
                        break
        key = self.sort_key(sort)
        return [(key(d), d) for d in chosen]
