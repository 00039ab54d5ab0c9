"""The moderator's side of the product lifecycle: approving or rejecting submitted products
and pending revisions of live ones.

An approval makes the product (or the edit) visible on the storefront: the search index is
queued for a reindex in the same transaction, which also refreshes cached pages. A rejection
needs a reason the vendor can act on; the portal shows it. Functions flush, never commit, and
raise ``Conflict`` (the item is no longer waiting) and ``InvalidInput`` (no reason; an edit
whose SKU was taken meanwhile).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.models import Category
from vendors.catalog import apply_revision, snapshot
from vendors.errors import Conflict, InvalidInput
from vendors.images import drop_pending, publish_pending
from vendors.models import (
    InvalidTransition,
    Product,
    ProductRevision,
    ProductStatus,
    RevisionStatus,
)
from vendors.search import queue_reindex_products

MAX_REASON = 2_000


@dataclass(frozen=True)
class Queue:
    products: list[Product]
    revisions: list[ProductRevision]


def moderation_queue(limit: int = 50) -> Queue:
    """The oldest submitted products and pending revisions, ``limit`` of each."""
    products = db.session.scalars(
        select(Product).where(Product.status == ProductStatus.SUBMITTED)
        .options(selectinload(Product.variants), selectinload(Product.vendor),
                 selectinload(Product.images), selectinload(Product.translations))
        .order_by(Product.updated_at, Product.id).limit(limit)
    ).all()
    revisions = db.session.scalars(
        select(ProductRevision).where(ProductRevision.status == RevisionStatus.PENDING)
        .options(selectinload(ProductRevision.product).options(
            selectinload(Product.vendor), selectinload(Product.images),
            selectinload(Product.variants), selectinload(Product.translations)))
        .order_by(ProductRevision.id).limit(limit)
    ).all()
    return Queue(list(products), list(revisions))


# --- What the moderator saw ---------------------------------------------------------------


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()
                          ).hexdigest()[:32]


def product_stamp(product: Product) -> str:
    """The version of a submitted product as the moderator sees it (its data and photos);
    the approve form carries it, and approving refuses when it changed since."""
    return _digest({"data": snapshot(product), "status": product.status,
                    "images": sorted(image.id for image in product.images)})


def revision_stamp(revision: ProductRevision) -> str:
    """The version of a pending edit: its changes and the photos waiting with it."""
    return _digest({"data": revision.data, "images": sorted(
        image.id for image in revision.product.images if image.pending)})


@dataclass(frozen=True)
class Change:
    label: str
    old: str
    new: str


def _options_text(option_types: list[dict]) -> str:
    return "; ".join(f"{o['name']}: {', '.join(o['values'])}" for o in option_types)


def _category_name(category_id: int | None) -> str:
    category = db.session.get(Category, category_id) if category_id is not None else None
    return category.name if category is not None else ""


def revision_changes(revision: ProductRevision, money) -> list[Change]:
    """What a pending edit changes in the live product, field by field (old -> new), for the
    review queue; ``money(amount_minor)`` formats a price."""
    live, diff = snapshot(revision.product), revision.data
    changes: list[Change] = []
    if "category_id" in diff:
        changes.append(Change(_("Category"), _category_name(live["category_id"]),
                              _category_name(diff["category_id"])))
    for locale, text in diff.get("texts", {}).items():
        old = live["texts"].get(locale, {"title": "", "description": ""})
        for key, label in (("title", _("Title")), ("description", _("Description"))):
            if text[key] != old[key]:
                changes.append(Change(f"{label} ({locale})", old[key], text[key]))
    if "attributes" in diff:
        changes.append(Change(_("Attributes"),
                              ", ".join(f"{k}: {v}" for k, v in live["attributes"].items()),
                              ", ".join(f"{k}: {v}" for k, v in diff["attributes"].items())))
    if "option_types" in diff:
        changes.append(Change(_("Options"), _options_text(live["option_types"]),
                              _options_text(diff["option_types"])))
    own = {v["id"]: v for v in live["variants"]}
    shown = {"sku": (_("SKU"), str), "price_minor": (_("price"), money),
             "compare_at_minor": (_("compare-at price"), money),
             "weight_grams": (_("weight (g)"), lambda grams: "" if grams is None else str(grams)),
             "options": (_("options"), lambda options: ", ".join(options.values()))}
    for variant in diff.get("variants", []):
        old = own.get(variant.get("id"))
        if old is None:
            changes.append(Change(_("New variant %(sku)s", sku=variant["sku"]), "",
                                  money(variant["price_minor"])))
            continue
        for key, (label, show) in shown.items():
            if key in variant:
                changes.append(Change(f"{old['sku']} {label}", show(old.get(key)),
                                      show(variant[key])))
    return changes


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(_("Tell the vendor what to change."), field="reason")
    if len(text) > MAX_REASON:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_REASON), field="reason")
    return text


def _locked_product(product_id: int) -> Product | None:
    # The vendor's edits lock the same row (vendors.catalog._owned): a decision and an edit
    # never interleave, and the check below sees the edit that committed first.
    return db.session.scalar(select(Product).where(Product.id == product_id)
                             .with_for_update().execution_options(populate_existing=True))


def _changed() -> Conflict:
    return Conflict(_("This listing changed since you opened it; review it again."))


def _submitted(product_id: int) -> Product:
    product = _locked_product(product_id)
    if product is None or product.status != ProductStatus.SUBMITTED:
        raise Conflict(_("This product is not awaiting review any more."))
    return product


def approve_product(product_id: int, stamp: str | None = None) -> Product:
    """Put a submitted product on sale. ``stamp`` is the :func:`product_stamp` the moderator
    saw (None: no check, for scripts). Raises Conflict (not waiting, or changed since)."""
    product = _submitted(product_id)
    if stamp is not None and stamp != product_stamp(product):
        raise _changed()
    try:
        product.set_status(ProductStatus.APPROVED)
    except InvalidTransition:  # pragma: no cover - _submitted checked the status
        raise Conflict(_("This product is not awaiting review any more.")) from None
    product.rejection_reason = None
    publish_pending(product.id)
    queue_reindex_products([product.id])
    db.session.flush()
    return product


def reject_product(product_id: int, reason: str) -> Product:
    """Send a submitted product back to its vendor with ``reason``. Raises Conflict,
    InvalidInput."""
    text = _reason(reason)
    product = _submitted(product_id)
    product.set_status(ProductStatus.REJECTED)
    product.rejection_reason = text
    db.session.flush()
    return product


def _pending(revision_id: int) -> ProductRevision:
    product_id = db.session.scalar(select(ProductRevision.product_id)
                                   .where(ProductRevision.id == revision_id))
    if product_id is not None:
        _locked_product(product_id)
    revision = db.session.scalar(select(ProductRevision).where(ProductRevision.id == revision_id)
                                 .execution_options(populate_existing=True))
    if revision is None or revision.status != RevisionStatus.PENDING:
        raise Conflict(_("This edit is not awaiting review any more."))
    return revision


def approve_revision(revision_id: int, moderator_id: int | None,
                     stamp: str | None = None) -> Product:
    """Apply a pending edit to its live product. ``stamp`` is the :func:`revision_stamp`
    the moderator saw (None: no check). Raises Conflict (not waiting, or changed since),
    InvalidInput."""
    revision = _pending(revision_id)
    if stamp is not None and stamp != revision_stamp(revision):
        raise _changed()
    product = apply_revision(revision)
    revision.status = RevisionStatus.APPROVED
    revision.decided_by_id, revision.decided_at = moderator_id, utcnow()
    publish_pending(product.id)
    queue_reindex_products([product.id])
    db.session.flush()
    return product


def reject_revision(revision_id: int, reason: str, moderator_id: int | None) -> ProductRevision:
    """Refuse a pending edit (the live version stays; photos added with it are deleted) with
    ``reason``. Raises Conflict, InvalidInput."""
    text = _reason(reason)
    revision = _pending(revision_id)
    revision.status = RevisionStatus.REJECTED
    revision.rejection_reason = text
    revision.decided_by_id, revision.decided_at = moderator_id, utcnow()
    drop_pending(revision.product_id)
    db.session.flush()
    return revision
