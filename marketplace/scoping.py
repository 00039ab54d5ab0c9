"""Vendor scoping by construction.

Vendor-portal code starts every query with ``vendor_select`` and loads single objects with
``get_vendor_owned_or_404``; neither can return another vendor's rows. Another vendor's object
answers 404, not 403, so ids of other vendors' rows are not even confirmed to exist.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort
from sqlalchemy import Select, select

from marketplace.extensions import db

M = TypeVar("M")


def vendor_select(model: type[M], vendor_id: int) -> Select[tuple[M]]:
    """``SELECT model WHERE model.vendor_id = vendor_id``; raises TypeError for unscoped models."""
    column = getattr(model, "vendor_id", None)
    if column is None:
        raise TypeError(f"{model.__name__} has no vendor_id: it cannot be vendor-scoped")
    return select(model).where(column == vendor_id)


def get_vendor_owned_or_404(model: type[M], object_id: Any, vendor_id: int) -> M:
    """The vendor's own object with this id; aborts with 404 for a missing or foreign one."""
    obj = db.session.scalar(vendor_select(model, vendor_id).where(model.id == object_id))
    if obj is None:
        abort(404)
    return obj
