"""Catalog actions on many products at once, for shops that load their catalog by CSV.

An import creates drafts; sending 2,500 of them for review one product page at a time is not
a job anyone should have. :func:`submit_all_drafts` does it in one set-based statement.
"""

from __future__ import annotations

from sqlalchemy import exists, func, select, update

from marketplace.extensions import db
from vendors.access import Actor, Permission
from vendors.models import Product, ProductStatus, Variant


def submit_all_drafts(actor: Actor) -> tuple[int, int]:
    """Send every draft of the actor's shop that has a variant for review.

    Returns ``(sent, left)``: how many went to review and how many drafts stay behind because
    they have no variant yet (the same rule as sending one product). Flushes, doesn't commit.
    Raises PermissionDenied.
    """
    actor.require(Permission.EDIT_CATALOG)
    has_variant = exists().where(Variant.product_id == Product.id)
    sent = db.session.execute(
        update(Product)
        .where(Product.vendor_id == actor.vendor_id, Product.status == ProductStatus.DRAFT,
               has_variant)
        .values(status=ProductStatus.SUBMITTED, rejection_reason=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    left = db.session.scalar(
        select(func.count()).select_from(Product)
        .where(Product.vendor_id == actor.vendor_id, Product.status == ProductStatus.DRAFT)
    )
    return sent, left
