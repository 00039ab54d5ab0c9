"""Caches of catalog reads, invalidated all at once by the catalog *generation*.

Every write to the search index (a product created, edited, approved, restocked, a vendor
suspended, a rebuild) bumps one counter in Redis, the generation. Cached entries carry the
generation they were computed under, so a bump makes every one of them a miss at the same
moment on every web process; stale entries are overwritten or expire (``DEFAULT_TTL``).

Why one counter for everything: the storefront's caches (search results with their facets,
product pages, the category tree) all read the same catalog, and most changes touch several
of them at once (a price change moves the product page, every listing it appears in and the
price facet). Finer keys would each need their own bookkeeping to stay right.

Two layers:
- :func:`cached` keeps an entry in Redis, shared by every web process and machine; a hit is
  one round trip (the entry and the generation are read together).
- :func:`memoized` keeps a small value (the category tree, exchange rates) in this process
  and reuses it while the Redis generation is unchanged.

In front of both sits a small per-process layer (``CATALOG_CACHE_LOCAL_SECONDS``, default 1 s;
0 turns it off): the generation read from Redis is trusted for that long, and the last
``CATALOG_CACHE_LOCAL_ENTRIES`` values read through :func:`cached` are kept in memory under
their generation. A popular page is then served without a Redis round trip, which is most of
what a cache hit costs. The price is bounded staleness: after an index write, another web
process may serve the previous catalog for up to that many seconds (this process, which
bumped, sees the change at once). The catalog is already updated by jobs, seconds after the
change that caused them, so this adds no new kind of staleness, only a little more of it.

A cache is an optimisation: when Redis can't be reached, the producer runs uncached.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, has_app_context, has_request_context
from redis.exceptions import RedisError

from marketplace.kv import get_redis

log = logging.getLogger(__name__)

T = TypeVar("T")

GENERATION_KEY = "marketplace:catalog:generation"
KEY_PREFIX = "marketplace:cache:"
# Entries of an old generation are never read again; this only bounds the memory they hold.
DEFAULT_TTL = 600

_G_ATTRIBUTE = "_catalog_generation"
_UNREAD = object()
_memo: dict[str, tuple[int, Any]] = {}
_memo_lock = threading.Lock()

# The per-process layer: (monotonic time read, generation), and recent entries by Redis key.
_local_generation: tuple[float, int] | None = None
_local_entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()
_local_lock = threading.Lock()
_MISS = object()


def _local_seconds() -> float:
    if not has_app_context():
        return 0.0
    return float(current_app.config.get("CATALOG_CACHE_LOCAL_SECONDS", 0) or 0)


def _local_get(redis_key: str, generation: int) -> Any:
    with _local_lock:
        hit = _local_entries.get(redis_key)
        if hit is None or hit[0] != generation:
            return _MISS
        _local_entries.move_to_end(redis_key)
        return hit[1]


def _local_put(redis_key: str, generation: int, value: Any) -> None:
    if _local_seconds() <= 0:
        return
    limit = int(current_app.config.get("CATALOG_CACHE_LOCAL_ENTRIES", 256))
    with _local_lock:
        _local_entries[redis_key] = (generation, value)
        _local_entries.move_to_end(redis_key)
        while len(_local_entries) > limit:
            _local_entries.popitem(last=False)


def _set_local_generation(generation: int) -> None:
    global _local_generation
    _local_generation = (time.monotonic(), generation)


def _fresh_generation() -> int:
    # A missing counter (a fresh or flushed Redis) starts at the clock in nanoseconds, never
    # at 0, so it can't repeat a value an older counter had, and a process that memoized
    # something before the flush can't mistake it for current.
    return time.time_ns()


def catalog_generation() -> int | None:
    """The current generation, or None when Redis can't be reached (caching is then off).

    Read once per request: a page that renders several cached parts sees one catalog.
    """
    if has_request_context() and hasattr(g, _G_ATTRIBUTE):
        return getattr(g, _G_ATTRIBUTE)
    recent = _local_generation
    if recent is not None and time.monotonic() - recent[0] < _local_seconds():
        if has_request_context():
            setattr(g, _G_ATTRIBUTE, recent[1])
        return recent[1]
    try:
        redis = get_redis()
        raw = redis.get(GENERATION_KEY)
        if raw is None:
            redis.set(GENERATION_KEY, _fresh_generation(), nx=True)
            raw = redis.get(GENERATION_KEY)
        generation: int | None = int(raw)
    except (RedisError, TypeError, ValueError):
        log.warning("The catalog generation could not be read; serving uncached", exc_info=True)
        generation = None
    else:
        _set_local_generation(generation)
    if has_request_context():
        setattr(g, _G_ATTRIBUTE, generation)
    return generation


def bump_catalog_generation() -> int | None:
    """Invalidate every catalog cache; call after each write to the search index.

    Returns the new generation (None when Redis can't be reached, which the caller's job
    should not fail over: the caches then expire by their TTL).
    """
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.set(GENERATION_KEY, _fresh_generation(), nx=True)
        pipe.incr(GENERATION_KEY)
        generation = int(pipe.execute()[1])
    except RedisError:
        log.warning("The catalog generation could not be bumped", exc_info=True)
        return None
    _set_local_generation(generation)
    if has_request_context():
        setattr(g, _G_ATTRIBUTE, generation)
    return generation


def cached(name: str, key: str, producer: Callable[[], T], *, ttl: int = DEFAULT_TTL) -> T:
    """``producer()``'s value, kept in Redis under ``name`` and ``key`` for the current
    generation.

    An entry stores the generation it was computed under beside the value, and is read
    together with the current generation in one ``MGET``: a cache hit costs one round trip,
    and an entry of an older generation is a miss (then overwritten). Values are pickled:
    they are this project's own dataclasses, and Redis is already trusted with pickles (RQ
    keeps its jobs there the same way). An entry that can't be unpickled (a class changed
    between deploys) is a miss. ``None`` is cached like any other value, so a missing product
    costs one lookup per generation, not one per request.
    """
    redis_key = f"{KEY_PREFIX}{name}:{key}"
    known = _request_generation()
    if known is _UNREAD and _local_seconds() > 0:
        known = catalog_generation()  # within the local window: no Redis round trip
    if known is None:  # Redis already failed in this request: don't wait for it again
        return producer()
    if known is not _UNREAD:
        hit = _local_get(redis_key, known)
        if hit is not _MISS:
            return hit
    try:
        if known is _UNREAD:
            raw_generation, raw = get_redis().mget(GENERATION_KEY, redis_key)
            generation = _remember(raw_generation)
        else:
            generation, raw = known, get_redis().get(redis_key)
    except RedisError:
        log.warning("Cache read failed for %s", name, exc_info=True)
        if has_request_context():
            setattr(g, _G_ATTRIBUTE, None)
        return producer()
    if generation is None:
        return producer()
    if raw is not None:
        try:
            stored_generation, value = pickle.loads(raw)
        except Exception:  # a stale class layout is a miss, not an error page
            log.info("Discarding a cache entry that no longer loads: %s", redis_key)
        else:
            if stored_generation == generation:
                _local_put(redis_key, generation, value)
                return value
    value = producer()
    _local_put(redis_key, generation, value)
    try:
        get_redis().set(redis_key, pickle.dumps((generation, value),
                                                protocol=pickle.HIGHEST_PROTOCOL), ex=ttl)
    except RedisError:
        log.warning("Cache write failed for %s", name, exc_info=True)
    return value


def _request_generation() -> int | None | object:
    """The generation this request already read, None when reading it failed, else
    ``_UNREAD``."""
    if has_request_context():
        return getattr(g, _G_ATTRIBUTE, _UNREAD)
    return _UNREAD


def _remember(raw: bytes | None) -> int | None:
    """Make ``raw`` (the counter as read with an entry) this request's generation; a missing
    counter is started the usual way."""
    if raw is None:
        return catalog_generation()
    generation = int(raw)
    if has_request_context():
        setattr(g, _G_ATTRIBUTE, generation)
    return generation


def memoized(name: str, producer: Callable[[], T]) -> T:
    """``producer()``'s value kept in this process while the generation stays the same.

    For small values every page needs (the category tree, exchange rates) or many pages share
    (a vendor's rating): no Redis read beyond the generation, no unpickling. One entry per
    ``name``, replaced when the generation moves on, so the memo holds at most one value per
    name. Without a generation (Redis down) it recomputes.
    """
    generation = catalog_generation()
    if generation is not None:
        hit = _memo.get(name)
        if hit is not None and hit[0] == generation:
            return hit[1]
    value = producer()
    if generation is not None:
        with _memo_lock:
            _memo[name] = (generation, value)
    return value
