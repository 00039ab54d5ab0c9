"""The vendor API's orders: the token's shop's sub-orders under /api/v1/vendor/orders.

Scopes: ``orders:read`` lists and reads; ``orders:write`` (which includes reading) accepts,
rejects and marks ready to ship. Another vendor's sub-order, or one still awaiting payment, is
a 404; a move the order's status doesn't allow is a 409 saying what the status is.
"""

from __future__ import annotations

from flask import abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from marketplace.extensions import db
from marketplace.openapi import document, error_responses, json_response, page_of
from vendors import orders
from vendors.access import Permission
from vendors.api import AUTH, _body, _page, bp, requires
from vendors.order_models import SubOrder
from vendors.order_schemas import LIST_FIELDS, RejectSchema, SubOrderQuerySchema, SubOrderSchema

TAGS = ["vendor orders"]

sub_order_schema = SubOrderSchema()
list_schema = SubOrderSchema(only=LIST_FIELDS)
order_query = SubOrderQuerySchema()
reject_schema = RejectSchema()


def _own(sub_order_id: int) -> SubOrder:
    sub = orders.visible_sub_order(g.actor.vendor_id, sub_order_id)
    if sub is None:
        abort(404)
    return sub


@bp.get("/orders")
@document(summary="List the shop's orders", tags=TAGS,
          description=AUTH + "Scope: orders:read. The shop's part of each paid order, newest "
                             "first; `status` filters (paid, accepted, ready_to_ship, "
                             "rejected, cancelled).",
          parameters=[{"in": "query", "schema": SubOrderQuerySchema}],
          responses={200: json_response(page_of(SubOrderSchema), "A page of orders."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_ORDERS)
def list_orders() -> ResponseReturnValue:
    query = order_query.load(request.args)
    return _page(orders.sub_orders_select(g.actor.vendor_id, query["status"]), query,
                 list_schema)


@bp.get("/orders/<int:sub_order_id>")
@document(summary="One order", tags=TAGS,
          description=AUTH + "Scope: orders:read. Lines, the buyer's shipping address, the "
                             "shipping method and the totals (in the order's currency; each "
                             "line also has your own unit price).",
          responses={200: json_response(SubOrderSchema, "The order."),
                     **error_responses(401, 403, 404)})
@requires(Permission.VIEW_ORDERS)
def get_order(sub_order_id: int) -> ResponseReturnValue:
    return jsonify(sub_order_schema.dump(_own(sub_order_id)))


def _moved(sub_order_id: int, action) -> ResponseReturnValue:
    sub = _own(sub_order_id)
    action(sub.id)
    db.session.commit()
    return jsonify(sub_order_schema.dump(orders.visible_sub_order(g.actor.vendor_id, sub.id)))


@bp.post("/orders/<int:sub_order_id>/accept")
@document("post", summary="Accept a paid order", tags=TAGS,
          description=AUTH + "Scope: orders:write. paid -> accepted.",
          responses={200: json_response(SubOrderSchema, "The accepted order."),
                     **error_responses(401, 403, 404, 409)})
@requires(Permission.FULFIL_ORDERS)
def accept_order(sub_order_id: int) -> ResponseReturnValue:
    return _moved(sub_order_id, lambda sub_id: orders.accept(g.actor, sub_id))


@bp.post("/orders/<int:sub_order_id>/ready")
@document("post", summary="Mark an order ready to ship", tags=TAGS,
          description=AUTH + "Scope: orders:write. accepted -> ready_to_ship.",
          responses={200: json_response(SubOrderSchema, "The order."),
                     **error_responses(401, 403, 404, 409)})
@requires(Permission.FULFIL_ORDERS)
def ready_order(sub_order_id: int) -> ResponseReturnValue:
    return _moved(sub_order_id, lambda sub_id: orders.mark_ready(g.actor, sub_id))


@bp.post("/orders/<int:sub_order_id>/reject")
@document("post", summary="Reject a paid order", tags=TAGS,
          description=AUTH + "Scope: orders:write. paid -> rejected with `reason` (shown to "
                             "the buyer); the units go back in stock.",
          requestBody={"content": {"application/json": {"schema": RejectSchema}}},
          responses={200: json_response(SubOrderSchema, "The rejected order."),
                     **error_responses(401, 403, 404, 409, 422)})
@requires(Permission.REJECT_ORDERS)
def reject_order(sub_order_id: int) -> ResponseReturnValue:
    sub = _own(sub_order_id)
    data = _body(reject_schema)
    return _moved(sub.id, lambda sub_id: orders.reject(g.actor, sub_id, data["reason"]))
