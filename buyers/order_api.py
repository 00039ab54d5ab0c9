"""The buyer's orders as JSON under /api/v1/orders: the history, one order, cancelling a part.

Like the cart and checkout API, it authenticates with the session cookie of a signed-in buyer
and is NOT exempt from CSRF: a POST carries the token in the ``X-CSRFToken`` header. Another
buyer's order is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields

from buyers import orders
from marketplace.errors import error_response
from marketplace.extensions import db
from marketplace.openapi import document, error_responses, json_response, page_of
from marketplace.pagination import PageQuerySchema, paginate
from vendors.order_models import OrderStatus
from vendors.order_schemas import AddressSchema, SubOrderSchema

bp = Blueprint("orders_api", __name__, url_prefix="/api/v1/orders")

TAGS = ["buyer orders"]
AUTH = ("Signed-in buyers only (session cookie); POSTs send the CSRF token in the "
        "`X-CSRFToken` header. ")

PART_FIELDS = ("id", "vendor_id", "vendor_name", "status", "currency", "items_minor",
               "shipping_minor", "tax_minor", "total_minor", "shipping_method",
               "rejection_reason", "status_changed_at", "lines")


class BuyerOrderSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.Enum(OrderStatus, by_value=True)
    currency = fields.String()
    items_minor = fields.Integer()
    shipping_minor = fields.Integer()
    tax_minor = fields.Integer()
    total_minor = fields.Integer()
    tax_inclusive = fields.Boolean()
    shipping_address = fields.Function(lambda o: AddressSchema().dump(o.shipping_address or {}))
    placed_at = fields.DateTime(attribute="created_at")
    paid_at = fields.DateTime(allow_none=True)
    sub_orders = fields.List(fields.Nested(SubOrderSchema(only=PART_FIELDS)),
                             metadata={"description": "Each vendor's part."})


order_schema = BuyerOrderSchema()
list_schema = BuyerOrderSchema(exclude=("shipping_address",))
part_schema = SubOrderSchema(only=PART_FIELDS)
page_query = PageQuerySchema()


def buyer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return error_response(401, _("Please log in"), _("Log in to see your orders."))
        return view(*args, **kwargs)

    return wrapped


def _not_found() -> ResponseReturnValue:
    return error_response(404, _("Not found"), _("There is no such order."))


@bp.get("")
@document(summary="Your orders", tags=TAGS, description=AUTH + "Newest first.",
          parameters=[{"in": "query", "schema": PageQuerySchema}],
          responses={200: json_response(page_of(BuyerOrderSchema), "A page of orders."),
                     **error_responses(401, 422)})
@buyer_required
def list_orders() -> ResponseReturnValue:
    query = page_query.load(request.args)
    page = paginate(orders.orders_select(current_user.id), query["page"], query["per_page"])
    return jsonify(page.to_dict(list_schema))


@bp.get("/<number>")
@document(summary="One of your orders", tags=TAGS,
          description=AUTH + "With each vendor's part, its status, lines and shipping.",
          responses={200: json_response(BuyerOrderSchema, "The order."),
                     **error_responses(401, 404)})
@buyer_required
def get_order(number: str) -> ResponseReturnValue:
    order = orders.buyer_order(current_user.id, number)
    if order is None:
        return _not_found()
    return jsonify(order_schema.dump(order))


@bp.post("/<number>/sub-orders/<int:sub_order_id>/cancel")
@document("post", summary="Cancel one vendor's part before it ships", tags=TAGS,
          description=AUTH + "paid, accepted or ready_to_ship -> cancelled; the items go back "
                             "in stock, and the part is refunded in full (the refund "
                             "is on its way).",
          responses={200: json_response(SubOrderSchema, "The cancelled part."),
                     **error_responses(401, 404, 409)})
@buyer_required
def cancel_sub_order(number: str, sub_order_id: int) -> ResponseReturnValue:
    try:
        sub = orders.cancel_sub_order(current_user.id, number, sub_order_id)
    except orders.OrderNotFound:
        db.session.rollback()
        return _not_found()
    except orders.OrderError as error:
        db.session.rollback()
        return error_response(error.status, _("That can't be done"), error.message)
    db.session.commit()
    return jsonify(part_schema.dump(sub))
