"""The product review queue: submitted products and pending edits of live ones, each with
approve and reject-with-reason buttons (the rules are in ``vendors.moderation``)."""

from __future__ import annotations

from functools import partial

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from marketplace.admin.views import bp, register_admin_link
from marketplace.auth.decorators import admin_required
from marketplace.extensions import db
from marketplace.money import Money
from vendors import moderation
from vendors.errors import VendorError
from vendors.image_views import send_image

QUEUE_LIMIT = 50


def _money(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None:
        return ""
    return Money(amount_minor, currency).format(str(get_locale()))


def _done(message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("admin.moderation"), 303)


def _refused(error: VendorError) -> ResponseReturnValue:
    db.session.rollback()
    flash(error.message, "error")
    return redirect(url_for("admin.moderation"), 303)


# Endpoint "admin.moderation".
@bp.get("/moderation", endpoint="moderation")
@admin_required
def moderation_page() -> ResponseReturnValue:
    queue = moderation.moderation_queue(QUEUE_LIMIT)
    changes = {revision.id: moderation.revision_changes(
        revision, partial(_money, currency=revision.product.vendor.default_currency))
        for revision in queue.revisions}
    return render_template("admin/moderation.html", queue=queue, changes=changes,
                           product_stamp=moderation.product_stamp,
                           revision_stamp=moderation.revision_stamp,
                           money=_money, limit=QUEUE_LIMIT)


register_admin_link("admin.moderation", _l("Product review"))


@bp.post("/moderation/products/<int:product_id>/approve")
@admin_required
def approve_product(product_id: int) -> ResponseReturnValue:
    try:
        product = moderation.approve_product(product_id, request.form.get("stamp", ""))
    except VendorError as error:
        return _refused(error)
    db.session.commit()
    return _done(_("%(title)s is live.", title=product.title))


@bp.post("/moderation/products/<int:product_id>/reject")
@admin_required
def reject_product(product_id: int) -> ResponseReturnValue:
    try:
        product = moderation.reject_product(product_id, request.form.get("reason", ""))
    except VendorError as error:
        return _refused(error)
    db.session.commit()
    return _done(_("%(title)s went back to its vendor with your reason.", title=product.title))


@bp.post("/moderation/revisions/<int:revision_id>/approve")
@admin_required
def approve_revision(revision_id: int) -> ResponseReturnValue:
    try:
        product = moderation.approve_revision(revision_id, current_user.id,
                                              request.form.get("stamp", ""))
    except VendorError as error:
        return _refused(error)
    db.session.commit()
    return _done(_("The edit of %(title)s is live.", title=product.title))


@bp.post("/moderation/revisions/<int:revision_id>/reject")
@admin_required
def reject_revision(revision_id: int) -> ResponseReturnValue:
    try:
        moderation.reject_revision(revision_id, request.form.get("reason", ""), current_user.id)
    except VendorError as error:
        return _refused(error)
    db.session.commit()
    return _done(_("The edit was rejected; the live version stays."))


@bp.get("/moderation/images/<int:image_id>")
@admin_required
def moderation_image(image_id: int) -> ResponseReturnValue:
    """Any product photo (drafts too), for reviewing; ``?size=thumb`` for the thumbnail."""
    return send_image(image_id, request.args.get("size", "thumb"), public=False)
