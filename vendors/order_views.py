"""The orders section: the shop's sub-orders by status, one order's detail, and the moves on
it (accept, reject with a reason, ready to ship, cancel with a reason)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError

from marketplace.extensions import db
from marketplace.money import Money
from marketplace.pagination import paginate
from vendors import orders
from vendors.access import Actor, Permission, vendor_member_required
from vendors.countries import country_name
from vendors.errors import VendorError
from vendors.forms import ActionForm
from vendors.order_models import SubOrder
from vendors.order_schemas import RejectFormSchema, SubOrderQuerySchema

bp = Blueprint("orders", __name__)

order_query = SubOrderQuerySchema()
reject_form = RejectFormSchema()


def format_money(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).format(str(get_locale()))


@bp.context_processor
def _helpers() -> dict:
    return {"format_money": format_money, "status_labels": orders.STATUS_LABELS,
            "country_name": country_name}


def _own(sub_order_id: int) -> SubOrder:
    sub = orders.visible_sub_order(g.vendor.id, sub_order_id)
    if sub is None:
        abort(404)
    return sub


@bp.get("/orders")
@vendor_member_required
def index() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_ORDERS)
    query = order_query.load(request.args)
    page = paginate(orders.sub_orders_select(g.vendor.id, query["status"]), query["page"],
                    query["per_page"])
    return render_template("vendors/orders.html", page=page, status=query["status"],
                           counts=orders.status_counts(g.vendor.id),
                           statuses=orders.VENDOR_STATUSES)


def _detail(sub: SubOrder, errors: dict | None = None, reason: str = "",
            status: int = 200) -> ResponseReturnValue:
    return render_template("vendors/order_detail.html", sub=sub, order=sub.order,
                           address=sub.order.shipping_address or {}, errors=errors or {},
                           reason=reason, form=ActionForm(),
                           max_reason=orders.MAX_REASON), status


@bp.get("/orders/<int:sub_order_id>")
@vendor_member_required
def detail(sub_order_id: int) -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_ORDERS)
    return _detail(_own(sub_order_id))


def _act(sub_order_id: int, action, done: str) -> ResponseReturnValue:
    sub = _own(sub_order_id)
    if not ActionForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for("vendors.orders.detail", sub_order_id=sub.id), 303)
    try:
        action(g.actor, sub.id)
    except VendorError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _detail(_own(sub_order_id), status=error.status)
    db.session.commit()
    flash(done % {"number": sub.order.number}, "success")
    return redirect(url_for("vendors.orders.detail", sub_order_id=sub.id), 303)


@bp.post("/orders/<int:sub_order_id>/accept")
@vendor_member_required
def accept(sub_order_id: int) -> ResponseReturnValue:
    return _act(sub_order_id, orders.accept,
                _("Order %(number)s is accepted. Pack it and mark it ready to ship."))


@bp.post("/orders/<int:sub_order_id>/ready")
@vendor_member_required
def ready(sub_order_id: int) -> ResponseReturnValue:
    return _act(sub_order_id, orders.mark_ready,
                _("Order %(number)s is ready to ship."))


@bp.post("/orders/<int:sub_order_id>/reject")
@vendor_member_required
def reject(sub_order_id: int) -> ResponseReturnValue:
    return _call_off(sub_order_id, orders.reject, lambda number: _(
        "Order %(number)s is rejected and its items are back in stock. The buyer sees your "
        "reason.", number=number))


@bp.post("/orders/<int:sub_order_id>/cancel")
@vendor_member_required
def cancel(sub_order_id: int) -> ResponseReturnValue:
    return _call_off(sub_order_id, orders.cancel, lambda number: _(
        "Order %(number)s is cancelled, its items are back in stock and the buyer is "
        "refunded in full.", number=number))


def _call_off(sub_order_id: int, action: Callable[[Actor, int, str], object],
              done: Callable[[str], str]) -> ResponseReturnValue:
    """Reject or cancel (``action``) with the reason from the form; ``done(number)`` is the
    confirmation."""
    sub = _own(sub_order_id)
    g.actor.require(Permission.REJECT_ORDERS)
    reason = request.form.get("reason", "")
    if not ActionForm().validate_on_submit():
        return _detail(sub, {"reason": [_("The form expired; please try again.")]}, reason,
                       400)
    try:
        data = reject_form.load(request.form)
        action(g.actor, sub.id, data["reason"])
    except ValidationError as error:
        return _detail(sub, error.messages, reason, 422)
    except VendorError as error:
        db.session.rollback()
        if error.field != "reason":
            flash(error.message, "error")
        errors = {"reason": [error.message]} if error.field == "reason" else {}
        return _detail(_own(sub_order_id), errors, reason, error.status)
    db.session.commit()
    flash(done(sub.order.number), "success")
    return redirect(url_for("vendors.orders.detail", sub_order_id=sub.id), 303)
