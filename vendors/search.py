"""The catalog's side of the search index: what a product's document says, and the jobs that
keep the index in step with the database.

Only visible products are indexed: approved products of approved vendors with at least one
variant priced in the vendor's own currency (the storefront shows that price). Every change
that can alter what the storefront shows (a product created, edited, approved, restocked; a
vendor suspended or renamed) calls :func:`queue_reindex_products` or
:func:`queue_reindex_vendor` in the same transaction as the change. The job runs after the
commit on the ``search`` queue, reloads the rows, and indexes what is visible and removes
the rest, so it is idempotent and a late or repeated run converges on the database.

Documents are built set-based: :func:`documents_for` costs the same few queries for one
product or a thousand, and a full rebuild streams them in id order, a batch at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click
from flask import current_app
from sqlalchemy import and_, exists, func, select

from marketplace import search
from marketplace.cache import bump_catalog_generation
from marketplace.cli import marketplace_cli
from marketplace.extensions import db
from marketplace.fx import BASE_CURRENCY, MissingRate, convert, load_rates
from marketplace.jobs import enqueue_after_commit
from marketplace.models import Category
from marketplace.money import Money
from marketplace.search import ProductDocument
from vendors.models import (
    Product,
    ProductStatus,
    ProductTranslation,
    StockLevel,
    Variant,
    Vendor,
    VendorStatus,
)
from vendors.rich_text import plain_text

log = logging.getLogger(__name__)

# Products per batch: one set of queries and one index write each.
BATCH_SIZE = 500
REBUILD_JOB_ID = "search-rebuild"


def priced_in_vendor_currency():
    """A variant of the product priced in its vendor's own currency exists (needs the
    ``products`` and ``vendors`` tables in the enclosing query)."""
    return exists().where(Variant.product_id == Product.id,
                          Variant.currency == Vendor.default_currency)


def visible_products():
    """The storefront's visibility rule, for a query over ``products`` joined to ``vendors``."""
    return and_(Product.status == ProductStatus.APPROVED,
                Vendor.status == VendorStatus.APPROVED,
                priced_in_vendor_currency())


def category_paths() -> dict[int, tuple[tuple[int, ...], tuple[str, ...]]]:
    """Every category's root-to-leaf path as (ids, names), from one query of the tree."""
    rows = db.session.execute(select(Category.id, Category.parent_id, Category.name)).all()
    parents = {cid: parent for cid, parent, _ in rows}
    names = {cid: name for cid, _, name in rows}
    paths: dict[int, tuple[tuple[int, ...], tuple[str, ...]]] = {}
    for cid in parents:
        chain: list[int] = []
        node: int | None = cid
        while node is not None and node not in chain:  # a cycle can't loop forever
            chain.append(node)
            node = parents.get(node)
        chain.reverse()
        paths[cid] = (tuple(chain), tuple(names[c] for c in chain))
    return paths


def _texts(rows: Sequence[Any], default_locale: str) -> dict[int, dict[str, tuple[str, str]]]:
    """Title and description (its words, without markup) per product and locale: the
    product's own in the default locale, and one query for the other locales'
    translations."""
    texts = {row.id: {default_locale: (row.title, plain_text(row.description))}
             for row in rows}
    for product_id, locale, title, description in db.session.execute(
        select(ProductTranslation.product_id, ProductTranslation.locale,
               ProductTranslation.title, ProductTranslation.description)
        .where(ProductTranslation.product_id.in_(list(texts)))
        .order_by(ProductTranslation.product_id, ProductTranslation.locale)
    ):
        if locale != default_locale:
            texts[product_id][locale] = (title, plain_text(description))
    return texts


def documents_for(product_ids: Iterable[int]) -> list[ProductDocument]:
    """The index documents of those of ``product_ids`` that are visible, in id order.

    Six queries whatever the number of ids (products, translations, variants, stock,
    categories, rates);
    pass at most a few thousand ids at a time. A product whose currency has no exchange rate
    is left out with a warning: it could not be compared on price with the others.
    """
    ids = sorted({int(pid) for pid in product_ids})
    if not ids:
        return []
    rows = db.session.execute(
        select(Product.id, Product.vendor_id, Product.category_id, Product.title,
               Product.description, Product.rating_total, Product.rating_count,
               Product.created_at, Product.attributes, Vendor.name.label("vendor_name"),
               Vendor.default_currency.label("currency"))
        .join(Vendor, Vendor.id == Product.vendor_id)
        .where(Product.id.in_(ids), visible_products())
        .order_by(Product.id)
    ).all()
    if not rows:
        return []
    visible = [row.id for row in rows]

    variants: dict[int, list[tuple[int, str, dict]]] = defaultdict(list)
    for product_id, price, currency, attributes in db.session.execute(
        select(Variant.product_id, Variant.price_minor, Variant.currency, Variant.attributes)
        .where(Variant.product_id.in_(visible))
        .order_by(Variant.id)
    ):
        variants[product_id].append((price, currency, attributes or {}))

    available = dict(db.session.execute(
        select(Variant.product_id, func.sum(StockLevel.on_hand - StockLevel.reserved))
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.product_id.in_(visible))
        .group_by(Variant.product_id)
    ).all())

    paths = category_paths()
    rates = load_rates()
    default_locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    texts = _texts(rows, default_locale)

    documents = []
    for row in rows:
        prices = [price for price, currency, _ in variants[row.id] if currency == row.currency]
        low = Money(min(prices), row.currency)
        try:
            base = convert(low, BASE_CURRENCY, rates)
        except MissingRate:
            log.warning("Product %s is priced in %s, which has no exchange rate; not indexed",
                        row.id, row.currency)
            continue
        attributes: dict[str, set[str]] = defaultdict(set)
        # The product's own attributes ("material: linen") filter like its variants' options.
        for _, _, values in [(None, None, row.attributes or {}), *variants[row.id]]:
            for name, value in values.items():
                if value is not None and str(value).strip():
                    attributes[str(name)].add(str(value))
        category_ids, category_names = paths.get(row.category_id, ((row.category_id,), ("",)))
        documents.append(ProductDocument(
            product_id=row.id,
            vendor_id=row.vendor_id,
            vendor_name=row.vendor_name,
            category_path=category_ids,
            category_names=category_names,
            texts=texts[row.id],
            default_locale=default_locale,
            attributes={name: tuple(sorted(values)) for name, values in attributes.items()},
            price_minor=low.amount_minor,
            currency=low.currency,
            price_base_minor=base.amount_minor,
            in_stock=int(available.get(row.id) or 0) > 0,
            rating_x100=row.rating_total * 100 // row.rating_count if row.rating_count else 0,
            rating_count=row.rating_count,
            created_at=row.created_at,
        ))
    return documents


def visible_product_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Product)
        .join(Vendor, Vendor.id == Product.vendor_id).where(visible_products())
    ) or 0


def iter_documents(batch_size: int = BATCH_SIZE) -> Iterator[ProductDocument]:
    """Every visible product's document, in id order, ``batch_size`` products at a time.

    Keyset pagination (``id > last``) keeps each batch's query as cheap as the first, and
    only plain rows are loaded, so memory stays flat at any catalog size.
    """
    last_id = 0
    while True:
        # Approved products of approved vendors; documents_for applies the rest of the rule
        # (a priced variant). Repeating that semi-join here makes PostgreSQL scan the
        # variants from the first product on every batch.
        ids = db.session.scalars(
            select(Product.id).join(Vendor, Vendor.id == Product.vendor_id)
            .where(Product.id > last_id, Product.status == ProductStatus.APPROVED,
                   Vendor.status == VendorStatus.APPROVED)
            .order_by(Product.id).limit(batch_size)
        ).all()
        if not ids:
            return
        yield from documents_for(ids)
        last_id = ids[-1]


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


# --- Jobs (module-level, ids in, idempotent) ----------------------------------------------


def reindex_products(product_ids: Iterable[int]) -> int:
    """Index those of ``product_ids`` that are visible and remove the others from the index;
    return how many were indexed. Unknown ids are removed (a deleted product)."""
    ids = sorted({int(pid) for pid in product_ids})
    indexed = 0
    for chunk in _chunks(ids, BATCH_SIZE):
        documents = documents_for(chunk)
        if documents:
            indexed += search.index(documents)
        gone = set(chunk) - {doc.product_id for doc in documents}
        if gone:
            search.remove(sorted(gone))
    bump_catalog_generation()
    return indexed


def reindex_vendor(vendor_id: int) -> int:
    """Reindex every product of the vendor (after a suspension, approval or rename)."""
    ids = db.session.scalars(
        select(Product.id).where(Product.vendor_id == int(vendor_id)).order_by(Product.id)
    ).all()
    return reindex_products(ids)


def rebuild_index(progress: Callable[[int], None] | None = None) -> int:
    """Replace the whole index with every visible product's document; return the count.

    Searches keep answering from the old index until the new one is complete. ``progress``
    (the CLI's progress bar) gets the number written so far.
    """
    count = search.rebuild(iter_documents(), progress)
    bump_catalog_generation()
    return count


# --- Enqueueing, in the caller's transaction ----------------------------------------------


def queue_reindex_products(product_ids: Iterable[int]) -> None:
    """Reindex these products once the caller's transaction commits.

    Call it next to the change (product edit, approval, stock adjustment) before committing.
    """
    ids = sorted({int(pid) for pid in product_ids})
    if ids:
        enqueue_after_commit("search", reindex_products, ids)


def queue_reindex_vendor(vendor_id: int) -> None:
    """Reindex all of a vendor's products once the caller's transaction commits (approval,
    suspension, a new name). One job per vendor waits at a time: a waiting one reloads
    everything when it runs, so repeated requests coalesce."""
    enqueue_after_commit("search", reindex_vendor, int(vendor_id),
                         job_id=f"search-vendor-{int(vendor_id)}")


def queue_rebuild_index() -> None:
    """Rebuild the whole index once the caller's transaction commits (after a seed or an
    exchange-rate change, which moves every base-currency price)."""
    enqueue_after_commit("search", rebuild_index, job_id=REBUILD_JOB_ID)


# --- `flask marketplace reindex` ----------------------------------------------------------


@marketplace_cli.command("reindex")
def reindex_command() -> None:
    """Rebuild the search index from the database, with a progress bar.

    Searches keep answering from the old index while this runs.
    """
    total = visible_product_count()
    with click.progressbar(length=total, label="Indexing products") as bar:
        written = 0

        def advance(done: int) -> None:
            nonlocal written
            bar.update(done - written)
            written = done

        count = rebuild_index(progress=advance)
    click.echo(f"Indexed {count} product(s).")
