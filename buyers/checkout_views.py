"""The checkout pages: address -> shipping per vendor -> review -> pay -> result.

The steps keep the buyer's choices (address, a shipping method per vendor) in the signed
session cookie; amounts are never taken from the browser. The review page carries a fresh
idempotency key in a hidden field, so a double click or a resubmit of that page places one
order, and the currency and total it showed: placing prices the order again and only goes
ahead when it comes to the same (otherwise the review is shown again), so the order placed
is the order the buyer reviewed. The pay page includes the payment provider's own form
(``provider().pay_template``); the result page reads the order, which the payment event job
updates, and refreshes itself until the outcome is known.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.routing import BuildError

from buyers import checkout
from buyers.cart import CartError
from buyers.cart_views import current_view
from buyers.checkout import CartNotReady, CheckoutError, OutOfStock, PricingError, QuoteChanged
from buyers.checkout_schemas import AddressSchema, PlaceOrderFormSchema
from buyers.payment_events import register_handlers
from buyers.pricing import shipping_options
from marketplace.extensions import db
from marketplace.fx import load_rates
from marketplace.i18n import current_currency
from marketplace.money import Money
from marketplace.payments import PaymentProviderError, provider
from vendors.countries import country_choices, country_name
from vendors.order_models import Order, OrderStatus, is_order_number

bp = Blueprint("checkout", __name__, url_prefix="/checkout", template_folder="templates")

address_form = AddressSchema()
place_form = PlaceOrderFormSchema()
STATE_KEY = "checkout"


@bp.record_once
def _register(state) -> None:
    register_handlers()


def _state() -> dict[str, Any]:
    return dict(session.get(STATE_KEY) or {})


def _save_state(**changes: Any) -> None:
    session[STATE_KEY] = {**_state(), **changes}


def _choices() -> dict[int, int]:
    raw = _state().get("shipping") or {}
    return {int(k): int(v) for k, v in raw.items() if str(k).isdecimal() and str(v).isdecimal()}


def _ready_cart():
    view = current_view()
    if view.is_empty:
        flash(_("Your cart is empty."), "error")
        return view, redirect(url_for("cart.show"))
    if not view.ok:
        flash(_("Some items in your cart need your attention first."), "error")
        return view, redirect(url_for("cart.show"))
    return view, None


@bp.get("/")
@login_required
def start():
    return redirect(url_for("checkout.address"))


@bp.route("/address", methods=["GET", "POST"])
@login_required
def address():
    view, stop = _ready_cart()
    if stop:
        return stop
    values = _state().get("address") or checkout.saved_address(current_user.id) or {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = address_form.load(request.form.to_dict())
        except ValidationError as error:
            errors = error.messages if isinstance(error.messages, dict) else {}
            values = request.form.to_dict()
        else:
            checkout.remember_address(current_user.id, data)
            db.session.commit()
            _save_state(address=data)
            return redirect(url_for("checkout.shipping"))
    status = 422 if errors else 200
    return render_template("buyers/checkout/address.html", values=values, errors=errors,
                           countries=country_choices(), cart=view), status


@bp.route("/shipping", methods=["GET", "POST"])
@login_required
def shipping():
    view, stop = _ready_cart()
    if stop:
        return stop
    address = _state().get("address")
    if not address:
        return redirect(url_for("checkout.address"))
    rates = load_rates()
    options = shipping_options(view, address["country"], rates)
    choices = _choices()
    error = None
    if request.method == "POST":
        choices = {}
        for group in view.groups:
            raw = request.form.get(f"shipping-{group.vendor_id}", "")
            if raw.isdecimal() and len(raw) <= 18:
                choices[group.vendor_id] = int(raw)
        try:
            checkout.price_order(view, address["country"], choices, rates)
        except PricingError as refused:
            error = refused.message
        else:
            _save_state(shipping={str(k): v for k, v in choices.items()})
            return redirect(url_for("checkout.review"))
    return render_template("buyers/checkout/shipping.html", cart=view, options=options,
                           choices=choices, address=address, error=error,
                           country=country_name(address["country"])), (422 if error else 200)


@bp.get("/review")
@login_required
def review():
    address = _state().get("address")
    if not address:
        return redirect(url_for("checkout.address"))
    try:
        view, quote = checkout.quote_cart(current_user.id, current_currency(),
                                          address["country"], _choices())
    except CartNotReady as refused:
        flash(refused.message, "error")
        return redirect(url_for("cart.show"))
    except PricingError as refused:
        flash(refused.message, "error")
        return redirect(url_for("checkout.shipping"))
    return render_template("buyers/checkout/review.html", cart=view, quote=quote,
                           address=address, country=country_name(address["country"]),
                           idempotency_key=secrets.token_urlsafe(24))


@bp.post("/place")
@login_required
def place():
    try:
        form = place_form.load(request.form)
    except ValidationError:
        flash(_("The form expired. Check your order and place it again."), "error")
        return redirect(url_for("checkout.review"), 303)
    key = form["idempotency_key"]
    existing = checkout.find_order(current_user.id, key)
    if existing is not None:  # a double click: the first click placed it
        return redirect(url_for("checkout.pay", number=existing.number), 303)
    address = _state().get("address")
    if not address:
        return redirect(url_for("checkout.address"), 303)
    try:
        placed = checkout.place_order_once(
            current_user._get_current_object(), idempotency_key=key,
            currency=current_currency(), address=address, choices=_choices(),
            expected=checkout.Expected(form["currency"], form["total_minor"]))
    except (OutOfStock, CartNotReady, CartError) as refused:
        flash(refused.message, "error")
        return render_template("buyers/cart.html", cart=current_view()), 409
    except PricingError as refused:
        flash(refused.message, "error")
        return redirect(url_for("checkout.shipping"), 303)
    except QuoteChanged:
        flash(_("Your order changed since you reviewed it. Check it again."), "error")
        return redirect(url_for("checkout.review"), 303)
    except CheckoutError as refused:  # e.g. a total below the minimum card payment
        flash(refused.message, "error")
        return redirect(url_for("cart.show"), 303)
    session.pop(STATE_KEY, None)
    return redirect(url_for("checkout.pay", number=placed.order.number), 303)


def _own_order(number: str) -> Order:
    order = None
    if is_order_number(number):
        order = db.session.scalar(select(Order).where(Order.number == number,
                                                      Order.buyer_id == current_user.id))
    if order is None:
        abort(404)
    return order


@bp.get("/pay/<number>")
@login_required
def pay(number: str):
    order = _own_order(number)
    if order.status != OrderStatus.AWAITING_PAYMENT:
        return redirect(url_for("checkout.done", number=order.number))
    try:
        intent = checkout.ensure_payment_intent(order.id)
    except checkout.OrderNotPayable as refused:  # expired or cancelled meanwhile
        flash(refused.message, "error")
        return redirect(url_for("checkout.done", number=order.number))
    except PaymentProviderError as error:
        flash(error.message, "error")
        return render_template("buyers/checkout/pay.html", order=order, intent=None), 503
    order = _own_order(number)
    return render_template(
        "buyers/checkout/pay.html", order=order, intent=intent,
        pay_template=provider().pay_template, order_reference=order.number,
        return_url=url_for("checkout.done", number=order.number, _external=True))


@bp.get("/done/<number>")
@login_required
def done(number: str):
    order = _own_order(number)
    if order.status == OrderStatus.PAID:
        state = "paid"
    elif order.status == OrderStatus.AWAITING_PAYMENT:
        # After a declined card the page also offers to try another one (the pay page).
        state = "processing"
    elif order.status == OrderStatus.CANCELLED:
        state = "cancelled"
    else:
        state = "failed"
    locale = str(get_locale())
    try:  # the buyer's order pages (buyers/order_views.py)
        detail_url = url_for("buyer_orders.detail", number=order.number)
    except BuildError:
        detail_url = None
    return render_template("buyers/checkout/done.html", order=order, state=state,
                           detail_url=detail_url,
                           fmt=lambda minor: Money(minor, order.currency).format(locale))
