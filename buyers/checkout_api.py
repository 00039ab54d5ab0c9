"""The buyer's cart and checkout as JSON: ``/api/v1/cart`` and ``/api/v1/checkout``.

Same services and schemas as the pages. These calls act for the visitor of the session
cookie (a signed-in buyer, or a guest's cart cookie for the cart), so unlike the token-only
APIs this blueprint is NOT exempt from CSRF: a client sends the page's token in the
``X-CSRFToken`` header (``<meta name="csrf-token">``, or ``GET /csrf-token``).

``POST /api/v1/checkout`` needs an ``Idempotency-Key`` header: the same key from the same
buyer always answers with the one order it placed (201 the first time, 200 after), as long
as the request is the same (currency, address, shipping choices, cart lines); the key reused
for a different request is refused with 422. Anything
the body says about prices, currency or totals is ignored: the order is priced on the server
in the buyer's selected currency.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from buyers import cart as carts
from buyers import checkout
from buyers.cart import CartError
from buyers.cart_views import current_cart, current_view
from buyers.checkout import CheckoutError, OutOfStock, PricingError
from buyers.checkout_schemas import (
    IDEMPOTENCY_KEY,
    AddLineSchema,
    CartSchema,
    CheckoutSchema,
    PlacedOrderSchema,
    QuantitySchema,
)
from marketplace.errors import error_response
from marketplace.extensions import db
from marketplace.i18n import current_currency
from marketplace.openapi import document, error_responses, json_response
from marketplace.payments import PaymentProviderError
from vendors.order_models import Order, OrderStatus

bp = Blueprint("checkout_api", __name__, url_prefix="/api/v1")

add_schema = AddLineSchema()
quantity_schema = QuantitySchema()
checkout_schema = CheckoutSchema()
cart_out = CartSchema()
order_out = PlacedOrderSchema()


@bp.errorhandler(CartError)
@bp.errorhandler(CheckoutError)
def _refused(error):
    db.session.rollback()
    titles = {404: _("Not found"), 409: _("That can't be done"),
              422: _("Please check your input")}
    fields = {error.field: [error.message]} if error.field else None
    return error_response(error.status, titles.get(error.status, titles[422]), error.message,
                          fields)


@bp.errorhandler(OutOfStock)
def _out_of_stock(error: OutOfStock):
    db.session.rollback()
    response = error_response(409, _("Out of stock"), error.message,
                              {"quantity": [error.message]})
    body = response.get_json()
    body["error"]["variant_id"] = error.variant_id
    body["error"]["available"] = error.available
    response.set_data(jsonify(body).get_data())
    return response


@bp.errorhandler(PricingError)
def _unpriceable(error: PricingError):
    db.session.rollback()
    fields = {error.field: [error.message]} if error.field else None
    return error_response(422, _("Please check your input"), error.message, fields)


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationError({"_": [_("Send a JSON object.")]})
    return body


def _cart_json():
    return jsonify(cart_out.dump(current_view()))


@bp.get("/cart")
@document(summary="The visitor's cart", tags=["cart"],
          description="Lines grouped by vendor, every line checked again (price, stock, shop "
                      "status); `problem` says why a line blocks checkout.",
          responses={200: json_response(CartSchema, "The cart."), **error_responses(503)})
def get_cart():
    return _cart_json()


@bp.post("/cart/lines")
@document("post", summary="Add to the cart", tags=["cart"],
          requestBody={"content": {"application/json": {"schema": AddLineSchema}}},
          responses={201: json_response(CartSchema, "The cart after the change."),
                     **error_responses(400, 404, 409, 422)})
def add_line():
    data = add_schema.load(_json_body())
    carts.add_item(current_cart(create=True), data["variant_id"], data["quantity"])
    db.session.commit()
    response = _cart_json()
    response.status_code = 201
    return response


@bp.patch("/cart/lines/<int:line_id>")
@document("patch", summary="Change a line's quantity", tags=["cart"],
          requestBody={"content": {"application/json": {"schema": QuantitySchema}}},
          responses={200: json_response(CartSchema, "The cart after the change."),
                     **error_responses(400, 404, 409, 422)})
def update_line(line_id: int):
    data = quantity_schema.load(_json_body())
    cart = current_cart()
    if cart is None:
        raise carts.UnknownItem(_("Your cart has no line with this id."), field="line_id")
    carts.set_quantity(cart, line_id, data["quantity"])
    db.session.commit()
    return _cart_json()


@bp.delete("/cart/lines/<int:line_id>")
@document("delete", summary="Remove a line", tags=["cart"],
          responses={200: json_response(CartSchema, "The cart after the change."),
                     **error_responses(404)})
def delete_line(line_id: int):
    cart = current_cart()
    if cart is None:
        raise carts.UnknownItem(_("Your cart has no line with this id."), field="line_id")
    carts.remove_line(cart, line_id)
    db.session.commit()
    return _cart_json()


def order_json(order: Order, intent: Any = None) -> dict[str, Any]:
    data = order_out.dump(order)
    data["payment"] = {
        "provider": order.payment_provider,
        "intent_id": intent.id if intent else order.payment_intent_id,
        "client_secret": intent.client_secret if intent else None,
        "pay_url": url_for("checkout.pay", number=order.number, _external=True),
    }
    return data


@bp.post("/checkout")
@document("post", summary="Place an order for the cart", tags=["checkout"],
          description="Needs the `Idempotency-Key` header (1-100 printable ASCII characters). "
                      "Creates one order with one sub-order per vendor, reserves the stock "
                      "and opens one payment; pay it at `payment.pay_url` (or with "
                      "`client_secret` and Stripe.js). Repeating the key with the same request "
                      "answers 200 with the same order; with a different request 422. 409 "
                      "when an item is short (`error.variant_id`, `error.available`) or the "
                      "cart needs attention; 422 when the total is under the smallest card "
                      "payment.",
          parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                       "schema": {"type": "string", "maxLength": 100}}],
          requestBody={"content": {"application/json": {"schema": CheckoutSchema}}},
          responses={201: json_response(PlacedOrderSchema, "The order placed."),
                     200: json_response(PlacedOrderSchema, "The order this key placed before."),
                     **error_responses(400, 401, 409, 422)})
def place_order():
    if not current_user.is_authenticated:
        return error_response(401, _("Log in first"), _("Checkout needs a signed-in buyer."))
    key = request.headers.get("Idempotency-Key", "")
    try:
        IDEMPOTENCY_KEY(key)
    except ValidationError:
        return error_response(400, _("Idempotency-Key needed"),
                              _("Send an Idempotency-Key header of 1 to 100 characters."),
                              {"Idempotency-Key": [_("Missing or not valid.")]})
    data = checkout_schema.load(_json_body())
    placed = checkout.place_order_once(
        current_user._get_current_object(), idempotency_key=key, currency=current_currency(),
        address=data["address"],
        choices={choice["vendor_id"]: choice["method_id"] for choice in data["shipping"]})
    intent = None
    if placed.order.status == OrderStatus.AWAITING_PAYMENT:
        try:
            intent = checkout.ensure_payment_intent(placed.order.id)
        except (PaymentProviderError, checkout.OrderNotPayable):
            db.session.rollback()  # the order stands; its pay page opens the payment later
    order = db.session.get(Order, placed.order.id)
    db.session.refresh(order)
    return jsonify(order_json(order, intent)), 201 if placed.created else 200
