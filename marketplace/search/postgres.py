"""The PostgreSQL engine: full-text search in the database, for several web machines.

Tables (``marketplace.search.tables``): ``search_products``, one narrow row per product with
what filters, facets and sorting read, and ``search_texts``, one row per product and language
it has text in, with a weighted tsvector built in that language's text search configuration
(title A; attribute values, vendor and category names B; description C; "simple" for languages
without one) and a copy of the product's values. Browsing reads only the narrow table; a word
search reads only the text rows (their pages are read for the tsvector anyway), never joining.
A search in language L reads each product's text row in L, else its default row: one row per
product, so counts need no DISTINCT. The words become ``plainto_tsquery`` in each configuration
present (never ``to_tsquery`` on user text) and use the GIN index; ``ts_rank`` orders them
(``ts_rank_cd`` costs several times more on thousands of matches).

A search is one statement: the matching rows once, as a MATERIALIZED CTE with every filter as a
boolean column, then UNION ALL of the page (ORDER BY ... LIMIT) and each facet's GROUP BY, each
applying every filter but its own; single counts (total, ratings, in stock) come from one pass,
unpivoted. It runs in a REPEATABLE READ, read-only transaction with a larger ``work_mem`` so
the CTE of a whole category stays in memory.

Spelling: ``search_words`` keeps every title/attribute/vendor/category word with the number of
products using it, updated with each write; candidates come from exact lookups of every
one-edit variant and from the pg_trgm index, ranked by ``marketplace.search.common``.

Writes hold the Redis write lock and a transaction-scoped advisory lock; ``rebuild`` replaces
everything in one transaction (DELETE, not TRUNCATE), so readers see the old rows until it
commits, then ANALYZEs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR, array, insert
from sqlalchemy.engine import Connection, Engine

from marketplace.extensions import db
from marketplace.search import common
from marketplace.search.tables import search_products, search_texts, search_words
from marketplace.search.types import ProductDocument, SearchQuery, SearchResult, Sort

BATCH_SIZE = 500
# work_mem of a search's transaction: the matching rows are materialized once, in memory.
WORK_MEM = "64MB"
# Advisory lock key for writers ("msearch" in ASCII), beside the Redis lock.
ADVISORY_LOCK_KEY = 0x6D736561726368
LOCK_NAME = "marketplace:search:postgres"

P, T = search_products.c, search_texts.c
TEXT_ARRAY = ARRAY(sa.Text())
BIGINT_ARRAY = ARRAY(sa.BigInteger())
# The columns every part of the search statement's UNION ALL shares: kind, id, label, language,
# number; a part without one selects a typed NULL.
_NULL_ID = sa.null().cast(sa.BigInteger())
_NULL_TEXT = sa.null().cast(sa.Text())


# A loose index scan: the next distinct configuration each step, not every default row.
_DEFAULT_CONFIGS = sa.text("""
    WITH RECURSIVE configs(config) AS (
        (SELECT config FROM search_texts WHERE is_default ORDER BY config LIMIT 1)
        UNION ALL
        SELECT (SELECT t.config FROM search_texts t
                WHERE t.is_default AND t.config > configs.config ORDER BY t.config LIMIT 1)
        FROM configs WHERE configs.config IS NOT NULL
    )
    SELECT config FROM configs WHERE config IS NOT NULL
""")


def _kind(name: str) -> sa.ColumnElement:
    return sa.literal(name, sa.Text())


def _pg(column: sa.ColumnElement, type_) -> sa.ColumnElement:
    """``column`` with its PostgreSQL type, for array and text operators (the tables declare
    variants so that SQLite can create them)."""
    return sa.type_coerce(column, type_)


LANGUAGES = _pg(T.languages, TEXT_ARRAY)
TSV = _pg(T.tsv, TSVECTOR())


class _Values:
    """The product values of one of the two tables (both carry them), arrays typed."""

    def __init__(self, table: sa.Table) -> None:
        c = table.c
        self.product_id, self.vendor_id, self.vendor_name = c.product_id, c.vendor_id, c.vendor_name
        self.price, self.in_stock, self.created_at = c.price_base_minor, c.in_stock, c.created_at
        self.rating, self.rating_count = c.rating_x100, c.rating_count
        self.category_path = _pg(c.category_path, BIGINT_ARRAY)
        self.category_names = _pg(c.category_names, TEXT_ARRAY)
        self.attribute_pairs = _pg(c.attribute_pairs, TEXT_ARRAY)


PRODUCT_VALUES, TEXT_VALUES = _Values(search_products), _Values(search_texts)


def _weighted(config, title, meta, body):
    def part(text, weight):
        # The weight is PostgreSQL's one-byte "char": an untyped literal, not a bound VARCHAR.
        return sa.func.setweight(sa.func.to_tsvector(config, text),
                                 sa.literal_column(f"'{weight}'"))

    return part(title, "A").op("||")(part(meta, "B")).op("||")(part(body, "C"))


_INSERT_TEXT = search_texts.insert().values(tsv=_weighted(
    sa.cast(sa.bindparam("text_config", type_=sa.String()), REGCONFIG),
    sa.bindparam("title_text"), sa.bindparam("meta_text"), sa.bindparam("body_text")))


def product_row(document: ProductDocument) -> dict:
    return {
        "product_id": document.product_id,
        "vendor_id": document.vendor_id,
        "vendor_name": document.vendor_name,
        "category_path": list(document.category_path),
        "category_names": list(document.category_names),
        "attribute_pairs": common.attribute_pairs(document.attributes),
        "price_base_minor": document.price_base_minor,
        "rating_x100": document.rating_x100,
        "rating_count": document.rating_count,
        "in_stock": bool(document.in_stock),
        "created_at": document.created_at,
    }


def text_rows(document: ProductDocument) -> list[dict]:
    texts = common.document_texts(document)
    meta = common.meta_text(document)
    values = product_row(document)
    rows = []
    for i, (language, (title, body)) in enumerate(texts.items()):
        config = common.pg_config(language)
        rows.append({
            **values,
            "language": language,
            "is_default": i == 0,
            "languages": list(texts),
            "config": config,
            "text_config": config,
            "title": title,
            "title_text": title,
            "meta_text": meta,
            "body_text": body,
            "words": sorted(common.vocabulary(document)) if i == 0 else [],
        })
    return rows


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _Vocabulary:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def frequencies(self, words: Iterable[str]) -> dict[str, int]:
        words = list(words)
        if not words:
            return {}
        rows = self._conn.execute(
            sa.select(search_words.c.word, search_words.c.products)
            .where(search_words.c.word == sa.func.any(sa.cast(words, TEXT_ARRAY))))
        return dict(rows.all())

    def near(self, word: str) -> list[str]:
        similarity = sa.func.similarity(search_words.c.word, word)
        return list(self._conn.scalars(
            sa.select(search_words.c.word)
            .where(search_words.c.word.op("%")(word))
            .order_by(similarity.desc(), search_words.c.word).limit(20)))


class PostgresBackend:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self.app.app_context():
                engine = db.engine
            if engine.dialect.name != "postgresql":
                raise RuntimeError("SEARCH_BACKEND=postgres needs a PostgreSQL DATABASE_URL")
            self._engine = engine
        return self._engine

    # --- Reading ----------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        plan = common.plan(query)
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                # Room for the matching rows in memory (a category of 200,000 products).
                conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
                return common.answer(plan, lambda p: self._execute(conn, p),
                                     lambda: _Vocabulary(conn))

    @staticmethod
    def _default_configs(conn: Connection) -> frozenset[str]:
        """The text search configurations of default rows: a few steps through an index."""
        return frozenset(conn.scalars(_DEFAULT_CONFIGS))

    def _execute(self, conn: Connection, plan: common.Plan) -> common.Outcome:
        """One statement: the matching rows once (a MATERIALIZED CTE), then the page and every
        facet read from them, UNION ALL. Without facets, the page and a windowed count."""
        rows = self._rows(conn, plan)
        if not plan.with_facets:
            return self._page_only(conn, plan, rows)
        m = rows.cte("m").prefix_with("MATERIALIZED")
        counts = common.FacetCounts()
        found, numbers = [], {}
        for kind, key, label, language, n in conn.execute(sa.union_all(*self._parts(plan, m))):
            if kind == "page":
                found.append((n, key, label, language))
            elif kind == "vendor":
                counts.vendors[key], counts.vendor_labels[key] = n, label
            elif kind == "category":
                counts.categories[key], counts.category_labels[key] = n, label or ""
            elif kind == "price":
                counts.prices[key] = n
            elif kind == "attr":
                name, value = common.split_pair(label)
                counts.attributes.setdefault(name, {})[value] = n
            else:
                numbers[label] = n
        counts.ratings = {stars: numbers[f"r{stars}"] for stars in common.RATING_STARS}
        counts.in_stock = numbers["stock"]
        found.sort()
        titles = ({pid: (title, language) for _, pid, title, language in found}
                  if plan.has_text else {})
        return common.Outcome([pid for _, pid, _, _ in found], numbers["total"],
                              common.facet_lists(counts), titles)

    def _parts(self, plan: common.Plan, m) -> list[sa.Select]:
        """The UNION ALL's parts over the matching rows ``m``, each a (kind, id, label,
        language, number) row: the page (numbered), then each facet's counts, each applying
        every filter but its own."""
        flags = {key: m.c[f"f_{i}"] for i, key in enumerate(self._filters(plan))}

        def where(*conditions, but=()):
            return sa.and_(sa.true(), *conditions,
                           *[flag for key, flag in flags.items() if key not in but])

        parts = [self._page_part(plan, m, where())]
        parts.append(sa.select(_kind("vendor"), m.c.vendor_id, sa.func.max(m.c.vendor_name),
                               _NULL_TEXT, sa.func.count())
                     .where(where(but=[common.FACET_VENDOR])).group_by(m.c.vendor_id))
        parts.append(sa.select(_kind("category"), m.c.child, sa.func.max(m.c.child_name),
                               _NULL_TEXT, sa.func.count())
                     .where(where(m.c.child.is_not(None))).group_by(m.c.child))
        if plan.price_buckets:
            parts.append(sa.select(_kind("price"), m.c.bucket, _NULL_TEXT, _NULL_TEXT,
                                   sa.func.count())
                         .where(where(but=[common.FACET_PRICE])).group_by(m.c.bucket))
        # unnest in the select list (a ProjectSet), cheaper than a LATERAL function scan.
        pairs = sa.select(sa.func.unnest(_pg(m.c.attribute_pairs, TEXT_ARRAY)).label("pair"),
                          *flags.values()).subquery("pairs")
        pair_flags = {key: pairs.c[flag.name] for key, flag in flags.items()}
        selected = [name for name, _ in plan.attributes]
        pair_name = sa.func.split_part(pairs.c.pair, common.PAIR_SEPARATOR, 1)
        attribute_keys = [common.ATTRIBUTE_FACET_PREFIX + name for name in selected]
        parts.append(
            sa.select(_kind("attr"), _NULL_ID, pairs.c.pair, _NULL_TEXT, sa.func.count())
            .where(sa.true(),
                   *[flag for key, flag in pair_flags.items() if key not in attribute_keys],
                   *[sa.or_(pair_name == name, pair_flags[key])
                     for name, key in zip(selected, attribute_keys, strict=True)])
            .group_by(pairs.c.pair))
        stats = {
            "total": where(),
            **{f"r{stars}": where(m.c.rating_x100 >= stars * 100, but=[common.FACET_RATING])
               for stars in common.RATING_STARS},
            "stock": where(m.c.in_stock.is_(True), but=[common.FACET_IN_STOCK]),
        }
        # One pass for every single count, unpivoted into a row each.
        parts.append(sa.select(
            _kind("stat"), _NULL_ID, sa.func.unnest(array(list(stats))), _NULL_TEXT,
            sa.func.unnest(array([sa.func.count().filter(c) for c in stats.values()]))))
        return parts

    def _rows(self, conn: Connection, plan: common.Plan) -> sa.Select:
        """The products the words and category match (every other filter a column of flags
        named f_0, f_1, ... in ``_filters`` order), with what the page and facets need: from
        the narrow product rows when browsing, from the text rows (which carry the product's
        values) when searching words."""
        v = TEXT_VALUES if plan.has_text else PRODUCT_VALUES
        depth = (sa.func.array_position(v.category_path, plan.category_id) + 1
                 if plan.category_id is not None else sa.literal(1))
        bucket = (sa.func.width_bucket(v.price - 1,
                                       sa.cast(list(plan.price_buckets), BIGINT_ARRAY))
                  if plan.price_buckets else sa.literal(0))
        columns = [
            v.product_id, v.vendor_id, v.vendor_name, v.attribute_pairs.label("attribute_pairs"),
            v.price.label("price_base_minor"), v.rating.label("rating_x100"), v.rating_count,
            v.in_stock, v.created_at,
            v.category_path[depth].label("child"), v.category_names[depth].label("child_name"),
            bucket.label("bucket"),
            *[flag.label(f"f_{i}") for i, flag in enumerate(self._filters(plan, v).values())],
        ]
        if not plan.has_text:
            rows = sa.select(*columns, _NULL_TEXT.label("title"), _NULL_TEXT.label("language"),
                             sa.literal(0.0).label("score"))
        else:
            language = plan.language
            text = " ".join(plan.words)
            configs = sorted(self._default_configs(conn) | {common.pg_config(language)})
            queries = {config: sa.func.plainto_tsquery(sa.cast(config, REGCONFIG), text)
                       for config in configs}
            score = sa.case({c: sa.func.ts_rank(TSV, q) for c, q in queries.items()},
                            value=T.config, else_=0.0)
            rows = sa.select(*columns, T.title, T.language, score.label("score")).where(
                sa.or_(T.language == language,
                       sa.and_(T.is_default, sa.not_(LANGUAGES.contains([language])))),
                sa.or_(*[sa.and_(T.config == config, TSV.op("@@")(q))
                         for config, q in queries.items()]),
            )
        if plan.category_id is not None:
            # The category facet lists children of this category, so no count needs anything
            # outside it: filter here, where the GIN index on category_path helps.
            rows = rows.where(v.category_path.contains(sa.cast([plan.category_id],
                                                               BIGINT_ARRAY)))
        return rows

    @staticmethod
    def _order(plan: common.Plan, rows) -> list:
        c = rows.c
        return {
            Sort.PRICE_ASC: [c.price_base_minor.asc(), c.product_id.asc()],
            Sort.PRICE_DESC: [c.price_base_minor.desc(), c.product_id.asc()],
            Sort.NEWEST: [c.created_at.desc(), c.product_id.desc()],
            Sort.RATING: [c.rating_x100.desc(), c.rating_count.desc(), c.product_id.asc()],
            Sort.RELEVANCE: ([c.score.desc(), c.product_id.asc()] if plan.has_text else
                             [c.in_stock.desc(), c.created_at.desc(), c.product_id.desc()]),
        }[plan.sort]

    def _page_part(self, plan: common.Plan, m, condition) -> sa.Select:
        # The page in order, numbered by a window over its few rows (UNION ALL keeps no order).
        page = (sa.select(m).where(condition).order_by(*self._order(plan, m))
                .limit(plan.per_page).offset(plan.offset).subquery("page"))
        return sa.select(_kind("page"), page.c.product_id, page.c.title, page.c.language,
                         sa.func.row_number().over(order_by=self._order(plan, page)))

    def _page_only(self, conn: Connection, plan: common.Plan, rows: sa.Select) -> common.Outcome:
        r = rows.subquery("r")
        filters = [r.c[f"f_{i}"] for i in range(len(self._filters(plan)))]
        page = (sa.select(r.c.product_id, r.c.title, r.c.language,
                          sa.func.count().over().label("total"))
                .where(sa.true(), *filters).order_by(*self._order(plan, r))
                .limit(plan.per_page).offset(plan.offset))
        found = conn.execute(page).all()
        total = found[0].total if found else 0
        if not found and plan.offset:  # a page past the end still tells the total
            total = conn.scalar(sa.select(sa.func.count()).select_from(r).where(
                sa.true(), *filters))
        titles = ({row.product_id: (row.title, row.language) for row in found}
                  if plan.has_text else {})
        return common.Outcome([row.product_id for row in found], total, {}, titles)

    @staticmethod
    def _filters(plan: common.Plan, v: _Values = PRODUCT_VALUES) -> dict[str, sa.ColumnElement]:
        """Each filter of the plan but the category (applied to every count), keyed by its
        facet."""
        filters: dict[str, sa.ColumnElement] = {}
        if plan.vendor_ids:
            filters[common.FACET_VENDOR] = v.vendor_id.in_(plan.vendor_ids)
        if plan.price_min is not None or plan.price_max is not None:
            bounds = []
            if plan.price_min is not None:
                bounds.append(v.price >= plan.price_min)
            if plan.price_max is not None:
                bounds.append(v.price <= plan.price_max)
            filters[common.FACET_PRICE] = sa.and_(*bounds)
        for name, _ in plan.attributes:
            filters[common.ATTRIBUTE_FACET_PREFIX + name] = v.attribute_pairs.overlap(
                sa.cast(plan.attribute_pairs(name), TEXT_ARRAY))
        if plan.min_rating_x100:
            filters[common.FACET_RATING] = v.rating >= plan.min_rating_x100
        if plan.in_stock_only:
            filters[common.FACET_IN_STOCK] = v.in_stock.is_(True)
        return filters

    # --- Writing ----------------------------------------------------------------------------

    def index(self, documents: Iterable[ProductDocument]) -> int:
        written = 0
        with common.write_lock(self.app, LOCK_NAME) as lock:
            for batch in _batches(documents, BATCH_SIZE):
                latest = {document.product_id: document for document in batch}
                with self.engine.begin() as conn:
                    self._lock(conn)
                    words = self._delete(conn, list(latest))
                    words.update(self._insert(conn, latest.values()))
                    self._add_words(conn, words)
                written += len(batch)
                lock.renew()
        return written

    def remove(self, product_ids: Iterable[int]) -> int:
        removed = 0
        with common.write_lock(self.app, LOCK_NAME):
            for batch in _batches(product_ids, BATCH_SIZE):
                with self.engine.begin() as conn:
                    self._lock(conn)
                    removed += conn.scalar(sa.select(sa.func.count()).select_from(
                        search_products).where(P.product_id.in_(batch)))
                    self._add_words(conn, self._delete(conn, batch))
        return removed

    def clear(self) -> None:
        with common.write_lock(self.app, LOCK_NAME), self.engine.begin() as conn:
            self._lock(conn)
            for table in (search_texts, search_products, search_words):
                conn.execute(table.delete())

    def rebuild(self, documents: Iterable[ProductDocument],
                progress: Callable[[int], None] | None = None) -> int:
        written = 0
        words: Counter[str] = Counter()
        with common.write_lock(self.app, LOCK_NAME) as lock, self.engine.begin() as conn:
            self._lock(conn)
            # DELETE, not TRUNCATE: readers keep seeing the old rows until this commits.
            for table in (search_texts, search_products, search_words):
                conn.execute(table.delete())
            seen: set[int] = set()
            for batch in _batches(documents, BATCH_SIZE):
                latest = {document.product_id: document for document in batch}
                repeated = [pid for pid in latest if pid in seen]
                if repeated:  # the same product twice: the later document wins
                    words.update(self._delete(conn, repeated))
                seen.update(latest)
                words.update(self._insert(conn, latest.values()))
                written += len(batch)
                lock.renew()
                if progress:
                    progress(written)
            self._add_words(conn, words)
            # Fresh planner statistics for the new contents (ANALYZE may run in a transaction).
            for table in (search_products, search_texts, search_words):
                conn.execute(sa.text(f"ANALYZE {table.name}"))
        return written

    @staticmethod
    def _lock(conn: Connection) -> None:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))

    @staticmethod
    def _insert(conn: Connection, documents: Iterable[ProductDocument]) -> Counter[str]:
        """Insert these products' rows; return their words."""
        documents = list(documents)
        if not documents:
            return Counter()
        conn.execute(search_products.insert(), [product_row(d) for d in documents])
        texts = [row for document in documents for row in text_rows(document)]
        conn.execute(_INSERT_TEXT, texts)
        words: Counter[str] = Counter()
        for row in texts:
            words.update(row["words"])
        return words

    @staticmethod
    def _delete(conn: Connection, product_ids: list[int]) -> Counter[str]:
        """Delete these products' rows; return their words counted negatively."""
        old = conn.execute(sa.select(T.words).where(T.product_id.in_(product_ids),
                                                    T.is_default))
        words: Counter[str] = Counter()
        for (product_words,) in old:
            words.subtract(product_words)
        # Their text rows go with them (ON DELETE CASCADE).
        conn.execute(search_products.delete().where(P.product_id.in_(product_ids)))
        return words

    @staticmethod
    def _add_words(conn: Connection, words: Counter[str]) -> None:
        changes = [{"word": w, "products": n} for w, n in words.items() if n]
        if not changes:
            return
        table = search_words
        for batch in _batches(changes, 5000):
            upsert = insert(table).values(batch)
            conn.execute(upsert.on_conflict_do_update(
                index_elements=[table.c.word],
                set_={"products": table.c.products + upsert.excluded.products}))
        changed = sa.cast([change["word"] for change in changes], TEXT_ARRAY)
        conn.execute(table.delete().where(table.c.word == sa.func.any(changed),
                                          table.c.products <= 0))
