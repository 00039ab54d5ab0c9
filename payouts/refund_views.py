"""Refund pages for the three audiences, each in the area of the site it knows.

- Buyers: ``/orders/<number>/parts/<id>/refund`` — ask for a refund of some units of a paid
  part (the order page shows the form inline and lists the refunds, through the template
  helpers below, because buyers/ can't import payouts).
- Vendors: ``/vendor/refunds`` (tabs by status; approve or decline the buyers' requests for
  their own sub-orders) and ``/vendor/orders/<id>/refund`` (refund some units or the
  shipping themselves; the form sits on the vendor's order page). Deciding and refunding
  take the same permission as rejecting an order (owners and managers).
- Admins: ``/admin/refunds``, approve or decline any request.

A blueprint of its own, registered inside ``payouts.views.bp`` (endpoints
``payouts.refunds.*``). Views load the form through a schema, call one service, commit and
redirect with a flash; bad input re-renders the form with a 422 and the reason.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from buyers import orders as buyer_orders
from marketplace.auth.decorators import admin_required
from marketplace.extensions import db
from marketplace.money import Money
from marketplace.pagination import PageQuerySchema, paginate
from payouts import (
    refund_cli,  # noqa: F401  (adds `flask marketplace refunds`)
    refunds,
)
from payouts.models import Refund, RefundInitiator, RefundStatus
from vendors import orders as vendor_orders
from vendors.access import Permission, vendor_member_required
from vendors.models import Vendor
from vendors.order_models import Order, SubOrder, SubOrderStatus

bp = Blueprint("refunds", __name__, template_folder="templates")

# Parts a buyer may ask a refund for: paid and not called off (those are refunded in full).
BUYER_REFUNDABLE = frozenset({SubOrderStatus.PAID, SubOrderStatus.ACCEPTED,
                              SubOrderStatus.READY_TO_SHIP})
INITIATOR_LABELS = {
    RefundInitiator.BUYER: _l("Buyer"),
    RefundInitiator.VENDOR: _l("Seller"),
    RefundInitiator.ADMIN: _l("Admin"),
    RefundInitiator.SYSTEM: _l("Automatic"),
}
_QUANTITY_FIELD = re.compile(r"qty-([0-9]{1,18})")


class RefundForm(FlaskForm):
    """The CSRF token of every refund form (the fields are loaded by the schemas below)."""


class RefundFormSchema(Schema):
    """A refund form: ``qty-<order line id>`` per line (empty means 0), an optional
    ``shipping`` checkbox (refund what is left of the shipping), the reason."""

    class Meta:
        unknown = EXCLUDE

    lines = fields.Dict(keys=fields.Integer(), values=fields.Integer(
        strict=False, validate=validate.Range(min=0, max=1_000_000,
                                              error=_l("Enter a number of units, 0 or more.")),
        error_messages={"invalid": _l("Enter a whole number of units.")}),
        load_default=dict)
    shipping = fields.Boolean(load_default=False, truthy={"1", "on", "yes", "true"},
                              falsy={"", "0", "off", "no", "false"})
    reason = fields.String(load_default="", validate=validate.Length(
        max=refunds.MAX_REASON, error=_l("Use at most {max} characters.")))

    @pre_load
    def gather_lines(self, data: Any, **kwargs: Any) -> dict:
        lines = {}
        for key in data:
            match = _QUANTITY_FIELD.fullmatch(key)
            if match:
                value = (data.get(key) or "").strip()
                lines[match.group(1)] = value or "0"
        return {"lines": lines, "shipping": data.get("shipping", ""),
                "reason": data.get("reason", "")}


class BuyerRefundFormSchema(RefundFormSchema):
    reason = fields.String(required=True, validate=validate.Length(
        min=3, max=refunds.MAX_REASON,
        error=_l("Tell the seller why in {min} to {max} characters.")))


class DecisionFormSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    note = fields.String(load_default="", validate=validate.Length(
        max=refunds.MAX_REASON, error=_l("Use at most {max} characters.")))


class RefundQuerySchema(PageQuerySchema):
    status = fields.Enum(RefundStatus, by_value=True, load_default=None)


refund_form = RefundFormSchema()
buyer_refund_form = BuyerRefundFormSchema()
decision_form = DecisionFormSchema()
refund_query = RefundQuerySchema()


@bp.app_context_processor
def _refund_helpers() -> dict:
    """For the buyers' and vendors' order pages (which can't import payouts): the refunds of
    a part and what is left to refund of it, as partials ``payouts/_part_refunds.html`` and
    ``payouts/_vendor_refund_form.html`` use them."""
    return {"part_refunds": _part_refunds, "part_refundable": refunds.refundable,
            "refund_status_labels": refunds.STATUS_LABELS,
            "refund_initiator_labels": INITIATOR_LABELS, "refund_form": RefundForm,
            "buyer_may_request_refund": _buyer_may_request, "refund_money": _money}


def _money(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).format(_locale())


def _part_refunds(sub_order_id: int) -> list[Refund]:
    return list(db.session.scalars(
        db.select(Refund).where(Refund.sub_order_id == sub_order_id).order_by(Refund.id)))


def _buyer_may_request(part: SubOrder) -> bool:
    return part.status in BUYER_REFUNDABLE and refunds.refundable(part.id).anything


# --- buyers -----------------------------------------------------------------------------------


def _buyer_part(number: str, sub_order_id: int) -> tuple[Order, SubOrder]:
    order = buyer_orders.buyer_order(current_user.id, number)
    part = next((p for p in order.sub_orders if p.id == sub_order_id), None) if order else None
    if part is None:
        abort(404)
    return order, part


def _buyer_form(order: Order, part: SubOrder, errors: dict | None = None,
                values: Any = None, status: int = 200) -> ResponseReturnValue:
    return render_template("payouts/buyer_refund.html", order=order, part=part,
                           left=refunds.refundable(part.id), errors=errors or {},
                           values=values or {}, form=RefundForm()), status


@bp.get("/orders/<number>/parts/<int:sub_order_id>/refund")
@login_required
def buyer_request_form(number: str, sub_order_id: int) -> ResponseReturnValue:
    order, part = _buyer_part(number, sub_order_id)
    return _buyer_form(order, part)


@bp.post("/orders/<number>/parts/<int:sub_order_id>/refund")
@login_required
def buyer_request(number: str, sub_order_id: int) -> ResponseReturnValue:
    order, part = _buyer_part(number, sub_order_id)
    if not RefundForm().validate_on_submit():
        return _buyer_form(order, part, {"form": [_("The form expired; please try again.")]},
                           request.form, 400)
    if part.status not in BUYER_REFUNDABLE:
        return _buyer_form(order, part, {"form": [_(
            "This part of the order can't be refunded on request: %(status)s.",
            status=buyer_orders.PART_STATUS_LABELS[part.status])]}, request.form, 409)
    try:
        data = buyer_refund_form.load(request.form)
        refund = refunds.create_refund(part.id, data["lines"], initiated_by=RefundInitiator.BUYER,
                                       user_id=current_user.id, reason=data["reason"],
                                       approve=False)
    except ValidationError as error:
        return _buyer_form(order, part, _form_errors(error), request.form, 422)
    except refunds.RefundError as error:
        db.session.rollback()
        return _buyer_form(order, part, {"form": [error.message]}, request.form, error.status)
    db.session.commit()
    flash(_("Your refund request for %(amount)s is sent to %(shop)s. You'll see here when "
            "it is decided.", amount=_money(refund.amount_minor, refund.currency),
            shop=part.vendor.name), "success")
    return redirect(url_for("buyer_orders.detail", number=order.number), 303)


def _flat(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [m for value in messages.values() for m in _flat(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in _flat(value)]
    return [str(messages)]


def _form_errors(error: ValidationError) -> dict[str, list[str]]:
    """Marshmallow's messages as the forms show them: the reason's under "reason", the
    rest (the quantities) as one list for the whole form, without repeats."""
    messages = error.messages if isinstance(error.messages, dict) else {"form": error.messages}
    rest = [m for field, value in messages.items() if field != "reason" for m in _flat(value)]
    errors = {"form": list(dict.fromkeys(rest))} if rest else {}
    if "reason" in messages:
        errors["reason"] = _flat(messages["reason"])
    return errors


def _locale() -> str:
    return str(get_locale() or "en")


# --- vendors ------------------------------------------------------------------------------------


def _status_list(template: str, vendor_id: int | None) -> ResponseReturnValue:
    query = refund_query.load(request.args)
    page = paginate(refunds.refunds_select(vendor_id=vendor_id, status=query["status"]),
                    query["page"], query["per_page"])
    names = dict(db.session.execute(
        db.select(Vendor.id, Vendor.name)
        .where(Vendor.id.in_({refund.vendor_id for refund in page.items}))).all())
    return render_template(template, page=page, status=query["status"],
                           statuses=list(RefundStatus), vendor_names=names,
                           counts=refunds.status_counts(vendor_id), form=RefundForm())


@bp.get("/vendor/refunds")
@vendor_member_required
def vendor_refunds() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_ORDERS)
    return _status_list("payouts/vendor_refunds.html", g.vendor.id)


def _decide(decide, refund_id: int, vendor_id: int | None, back: str) -> ResponseReturnValue:
    if not RefundForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(back, 303)
    try:
        data = decision_form.load(request.form)
        refund = decide(refund_id, current_user.id, data["note"], vendor_id=vendor_id)
    except ValidationError as error:
        flash(" ".join(_flat(error.messages)), "error")
        return redirect(back, 303)
    except refunds.RefundNotFound:
        db.session.rollback()
        abort(404)
    except refunds.RefundError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back, 303)
    db.session.commit()
    if refund.status == RefundStatus.DECLINED:
        flash(_("Refund #%(id)s is declined. The buyer sees your note.", id=refund.id),
              "success")
    else:
        flash(_("Refund #%(id)s of %(amount)s is approved and on its way to the buyer.",
                id=refund.id,
                amount=_money(refund.amount_minor, refund.currency)),
              "success")
    return redirect(back, 303)


@bp.post("/vendor/refunds/<int:refund_id>/approve")
@vendor_member_required
def vendor_approve(refund_id: int) -> ResponseReturnValue:
    g.actor.require(Permission.REJECT_ORDERS)
    return _decide(refunds.approve, refund_id, g.vendor.id,
                   url_for(".vendor_refunds", status="requested"))


@bp.post("/vendor/refunds/<int:refund_id>/decline")
@vendor_member_required
def vendor_decline(refund_id: int) -> ResponseReturnValue:
    g.actor.require(Permission.REJECT_ORDERS)
    return _decide(refunds.decline, refund_id, g.vendor.id,
                   url_for(".vendor_refunds", status="requested"))


def _vendor_part(sub_order_id: int) -> SubOrder:
    sub = vendor_orders.visible_sub_order(g.vendor.id, sub_order_id)
    if sub is None:
        abort(404)
    return sub


def _vendor_form(sub: SubOrder, errors: dict | None = None, values: Any = None,
                 status: int = 200) -> ResponseReturnValue:
    return render_template("payouts/vendor_refund.html", sub=sub, order=sub.order,
                           left=refunds.refundable(sub.id), errors=errors or {},
                           values=values or {}, form=RefundForm()), status


@bp.get("/vendor/orders/<int:sub_order_id>/refund")
@vendor_member_required
def vendor_refund_form(sub_order_id: int) -> ResponseReturnValue:
    g.actor.require(Permission.REJECT_ORDERS)
    return _vendor_form(_vendor_part(sub_order_id))


@bp.post("/vendor/orders/<int:sub_order_id>/refund")
@vendor_member_required
def vendor_refund(sub_order_id: int) -> ResponseReturnValue:
    g.actor.require(Permission.REJECT_ORDERS)
    sub = _vendor_part(sub_order_id)
    if not RefundForm().validate_on_submit():
        return _vendor_form(sub, {"form": [_("The form expired; please try again.")]},
                            request.form, 400)
    try:
        data = refund_form.load(request.form)
        left = refunds.refundable(sub.id)
        refund = refunds.create_refund(
            sub.id, data["lines"], shipping_minor=left.shipping_minor if data["shipping"] else 0,
            initiated_by=RefundInitiator.VENDOR, user_id=current_user.id,
            reason=data["reason"], approve=True)
    except ValidationError as error:
        return _vendor_form(sub, _form_errors(error), request.form, 422)
    except refunds.RefundError as error:
        db.session.rollback()
        return _vendor_form(sub, {"form": [error.message]}, request.form, error.status)
    db.session.commit()
    flash(_("%(amount)s is being refunded to the buyer of order %(number)s.",
            amount=_money(refund.amount_minor, refund.currency), number=sub.order.number),
          "success")
    return redirect(url_for("vendors.orders.detail", sub_order_id=sub.id), 303)


# --- admins -------------------------------------------------------------------------------------


@bp.get("/admin/refunds")
@admin_required
def admin_refunds() -> ResponseReturnValue:
    return _status_list("payouts/admin_refunds.html", None)


@bp.post("/admin/refunds/<int:refund_id>/approve")
@admin_required
def admin_approve(refund_id: int) -> ResponseReturnValue:
    return _decide(refunds.approve, refund_id, None,
                   url_for(".admin_refunds", status="requested"))


@bp.post("/admin/refunds/<int:refund_id>/decline")
@admin_required
def admin_decline(refund_id: int) -> ResponseReturnValue:
    return _decide(refunds.decline, refund_id, None,
                   url_for(".admin_refunds", status="requested"))
