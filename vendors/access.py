"""Who may act for a vendor: the portal's route guard."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g
from flask_login import current_user, login_required

from marketplace.extensions import db
from vendors.models import VendorMembership


def vendor_member_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Members of a vendor only (others get 403); sets ``g.vendor`` and ``g.membership``.

    A user who belongs to several vendors works in the first one until the portal offers a
    switcher. Views scope every query with ``g.vendor.id`` through ``vendor_select``.
    """

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        membership = db.session.scalar(
            db.select(VendorMembership)
            .where(VendorMembership.user_id == current_user.id)
            .order_by(VendorMembership.id)
            .limit(1)
        )
        if membership is None:
            abort(403)
        g.membership = membership
        g.vendor = membership.vendor
        return view(*args, **kwargs)

    return wrapped
