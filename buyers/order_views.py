"""The buyer's order pages: the history, one order with each vendor's part, and cancelling a
part before it ships."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from buyers import orders
from marketplace.extensions import db
from marketplace.money import Money
from marketplace.pagination import PageQuerySchema, paginate
from vendors.countries import country_name

bp = Blueprint("buyer_orders", __name__, url_prefix="/orders", template_folder="templates")

page_query = PageQuerySchema()


class CancelForm(FlaskForm):
    """The cancel button: only the CSRF token (which part is in the URL)."""


@bp.context_processor
def _helpers() -> dict:
    return {"order_status_labels": orders.ORDER_STATUS_LABELS,
            "part_status_labels": orders.PART_STATUS_LABELS, "can_cancel": orders.can_cancel,
            "country_name": country_name, "Money": Money}


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    query = page_query.load(request.args)
    page = paginate(orders.orders_select(current_user.id), query["page"], query["per_page"])
    return render_template("buyers/orders.html", page=page)


def _detail(number: str, status: int = 200) -> ResponseReturnValue:
    order = orders.buyer_order(current_user.id, number)
    if order is None:
        abort(404)
    return render_template("buyers/order_detail.html", order=order,
                           address=order.shipping_address or {}, form=CancelForm()), status


@bp.get("/<number>")
@login_required
def detail(number: str) -> ResponseReturnValue:
    return _detail(number)


@bp.post("/<number>/parts/<int:sub_order_id>/cancel")
@login_required
def cancel(number: str, sub_order_id: int) -> ResponseReturnValue:
    if orders.buyer_order(current_user.id, number) is None:
        abort(404)
    if not CancelForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for("buyer_orders.detail", number=number), 303)
    try:
        sub = orders.cancel_sub_order(current_user.id, number, sub_order_id)
    except orders.OrderNotFound:
        db.session.rollback()
        abort(404)
    except orders.OrderError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _detail(number, error.status)
    vendor_name = sub.vendor.name
    db.session.commit()
    flash(_("Your items from %(shop)s are cancelled. Your refund is on its way: it reaches "
            "your card within a few days.", shop=vendor_name), "success")
    return redirect(url_for("buyer_orders.detail", number=number), 303)
