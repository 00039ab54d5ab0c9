"""The PostgreSQL engine's tables (migration 0003). On SQLite they exist, unused.

- ``search_products``: one narrow row per product with what filters, facets and sorting read.
  Browsing (no words) reads only this table, so it is kept small (about 30 rows per page).
- ``search_texts``: one row per product and language it has text in, with the weighted
  tsvector and a copy of the product's values. A search in language L reads, per product, the
  row in L or else the default row, so every product is counted once.
- ``search_words``: the spelling vocabulary: every word of titles, attribute values, vendor
  and category names, with the number of products using it; trigram-indexed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from marketplace.extensions import db

# PostgreSQL types where it has them; JSON or plain text on SQLite, where nothing reads them.
BigIntArray = JSON().with_variant(ARRAY(BigInteger()), "postgresql")
TextArray = JSON().with_variant(ARRAY(Text()), "postgresql")
TsVector = Text().with_variant(TSVECTOR(), "postgresql")

def _product_columns() -> list[Column]:
    """What filters, facets and sorting read, on both tables: a text search reads its text rows
    only, never joining (the row's page is read for its tsvector anyway)."""
    return [
        Column("vendor_id", BigInteger, nullable=False),
        Column("vendor_name", Text, nullable=False),
        Column("category_path", BigIntArray, nullable=False),
        Column("category_names", TextArray, nullable=False),
        # "name<US>value" per attribute value (marketplace.search.common.PAIR_SEPARATOR)
        Column("attribute_pairs", TextArray, nullable=False),
        Column("price_base_minor", BigInteger, nullable=False),
        Column("rating_x100", Integer, nullable=False),
        Column("rating_count", Integer, nullable=False),
        Column("in_stock", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ]


search_products = Table(
    "search_products",
    db.metadata,
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    *_product_columns(),
    Index("ix_search_products_category_path", "category_path", postgresql_using="gin"),
    Index("ix_search_products_attribute_pairs", "attribute_pairs", postgresql_using="gin"),
    Index("ix_search_products_vendor_id", "vendor_id"),
)

search_texts = Table(
    "search_texts",
    db.metadata,
    Column("product_id", BigInteger,
           ForeignKey("search_products.product_id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    # language key (marketplace.search.common.language_key) of this row's text
    Column("language", String(8), primary_key=True),
    Column("is_default", Boolean, nullable=False),
    # every language key the product has text in
    Column("languages", TextArray, nullable=False),
    # the text search configuration the row's tsv was built with ("english", "simple", ...)
    Column("config", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("tsv", TsVector, nullable=False),
    # the product's spelling vocabulary, on its default row only (keeps search_words exact)
    Column("words", TextArray, nullable=False),
    *_product_columns(),
    Index("ix_search_texts_tsv", "tsv", postgresql_using="gin"),
    # The configurations default rows use, found by skipping through this index.
    Index("ix_search_texts_is_default_config", "is_default", "config"),
)

search_words = Table(
    "search_words",
    db.metadata,
    Column("word", Text, primary_key=True),
    Column("products", Integer, nullable=False),
    Index("ix_search_words_word_trgm", "word", postgresql_using="gin",
          postgresql_ops={"word": "gin_trgm_ops"}),
)
