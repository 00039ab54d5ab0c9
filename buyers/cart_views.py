"""The cart pages: ``/cart``, adding from a product page, changing and removing lines.

Whose cart a request means: a signed-in buyer's own; a guest's is found by the ``cart``
cookie (a random token; only its SHA-256 is stored). The cookie is set when a guest first
adds something and dropped when the guest cart is merged into the account at sign-in
(``flask_login``'s ``user_logged_in`` signal, see :func:`_merge_at_login`).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, user_logged_in
from marshmallow import ValidationError

from buyers import cart as carts
from buyers.cart import CartError
from buyers.checkout_schemas import AddLineFormSchema, QuantityFormSchema
from buyers.models import Cart
from marketplace.extensions import db
from marketplace.fx import load_rates
from marketplace.i18n import current_currency

bp = Blueprint("cart", __name__, template_folder="templates")

COOKIE_NAME = "cart"
COOKIE_MAX_AGE = 60 * 60 * 24 * 30

add_form = AddLineFormSchema()
quantity_form = QuantityFormSchema()


# --- Whose cart ----------------------------------------------------------------------------


def guest_token() -> str | None:
    token = request.cookies.get(COOKIE_NAME)
    return token if token and 20 <= len(token) <= 100 else None


def current_cart(*, create: bool = False) -> Cart | None:
    """This visitor's cart (None when they have none and ``create`` is false)."""
    if current_user.is_authenticated:
        if create:
            return carts.get_or_create_cart(user_id=current_user.id)
        return carts.find_cart(user_id=current_user.id)
    token = guest_token()
    if token is None and create:
        token = g.new_cart_token = carts.new_guest_token()
    if token is None:
        return None
    if create:
        return carts.get_or_create_cart(guest_token=token)
    return carts.find_cart(guest_token=token)


def current_view() -> carts.CartView:
    return carts.review(current_cart(), current_currency(), load_rates())


@bp.after_app_request
def _cart_cookie(response):
    token = g.pop("new_cart_token", None)
    if token is not None:
        response.set_cookie(COOKIE_NAME, token, max_age=COOKIE_MAX_AGE, httponly=True,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    if g.pop("drop_cart_cookie", False):
        response.delete_cookie(COOKIE_NAME)
    return response


def _merge_at_login(app: Flask, user: Any, **extra: Any) -> None:
    token = guest_token() if request else None
    if token is None:
        return
    if carts.merge_guest_cart(token, user.id):
        flash(_("We kept the items you added before logging in."), "info")
    db.session.commit()
    g.drop_cart_cookie = True


@bp.record_once
def _connect(state) -> None:
    user_logged_in.connect(_merge_at_login, state.app)

    @state.app.context_processor
    def cart_count() -> dict[str, Any]:
        # Only signed-in pages show a count: anonymous pages are cached whole for everyone.
        def count() -> int:
            if not current_user.is_authenticated:
                return 0
            return carts.line_count(carts.find_cart(user_id=current_user.id))
        return {"cart_count": count}


# --- Pages ---------------------------------------------------------------------------------


def _refuse(message: str, status: int):
    """Answer a refused change with the cart page, the message on top and a 4xx status."""
    db.session.rollback()
    flash(message, "error")
    return render_template("buyers/cart.html", cart=current_view()), status


def _cart_error(error: CartError):
    return _refuse(error.message, error.status)


@bp.get("/cart")
def show():
    view = current_view()
    return render_template("buyers/cart.html", cart=view)


@bp.post("/cart/add")
def add():
    try:
        data = add_form.load(request.form)
    except ValidationError as error:
        return _invalid(error)
    try:
        carts.add_item(current_cart(create=True), data["variant_id"], data["quantity"])
    except CartError as error:
        return _cart_error(error)
    db.session.commit()
    flash(_("Added to your cart."), "success")
    return redirect(url_for("cart.show"))


@bp.post("/cart/lines/<int:line_id>")
def update(line_id: int):
    cart = current_cart()
    try:
        data = quantity_form.load(request.form)
    except ValidationError as error:
        return _invalid(error)
    if cart is None:
        return _cart_error(carts.UnknownItem(_("Your cart has no line with this id.")))
    try:
        carts.set_quantity(cart, line_id, data["quantity"])
    except CartError as error:
        return _cart_error(error)
    db.session.commit()
    flash(_("Your cart was updated."), "success")
    return redirect(url_for("cart.show"))


@bp.post("/cart/lines/<int:line_id>/remove")
def remove(line_id: int):
    cart = current_cart()
    if cart is None:
        return _cart_error(carts.UnknownItem(_("Your cart has no line with this id.")))
    try:
        carts.remove_line(cart, line_id)
    except CartError as error:
        return _cart_error(error)
    db.session.commit()
    flash(_("The item was removed from your cart."), "success")
    return redirect(url_for("cart.show"))


def _invalid(error: ValidationError):
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    labels = {"quantity": _("Quantity"), "variant_id": _("Item")}
    text = "; ".join(f"{labels.get(name, name)}: {' '.join(map(str, msgs))}"
                     for name, msgs in messages.items())
    return _refuse(text, 422)
