"""The shipping section: the shop's profiles (where it ships, handling days) with their
methods (flat or by weight, free over a threshold), as owners and managers edit them."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.money import Money
from marketplace.scoping import get_vendor_owned_or_404
from vendors import shipping
from vendors.access import Permission, vendor_member_required
from vendors.countries import country_choices, country_name
from vendors.errors import VendorError
from vendors.forms import ActionForm
from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile
from vendors.shipping_schemas import MethodFormSchema, ProfileFormSchema

bp = Blueprint("shipping", __name__)

profile_form = ProfileFormSchema()
# Form fields of a method by the service's field names (amounts are typed in major units).
_METHOD_FIELDS = {"base_minor": "base", "per_kg_minor": "per_kg",
                  "free_over_minor": "free_over"}


def _money(amount_minor: int | None, currency: str) -> str:
    return Money(amount_minor or 0, currency).format(str(get_locale()))


def _decimal(amount_minor: int | None, currency: str) -> str:
    return "" if amount_minor is None else f"{Money(amount_minor, currency).to_decimal():f}"


def describe_rate(method: ShippingMethod) -> str:
    """"€4.90", "€5.00 + €1.50 per started kg", each with ", free from €50.00" if set."""
    price = _money(method.base_minor, method.currency)
    if method.kind == RateKind.WEIGHT:
        price = _("%(base)s + %(per_kg)s per started kg", base=price,
                  per_kg=_money(method.per_kg_minor, method.currency))
    if method.free_over_minor is not None:
        price = _("%(price)s, free from %(threshold)s", price=price,
                  threshold=_money(method.free_over_minor, method.currency))
    return price


def _countries_text(codes: list[str]) -> str:
    return ", ".join(sorted(country_name(code) for code in codes))


@bp.context_processor
def _helpers() -> dict:
    return {"describe_rate": describe_rate, "countries_text": _countries_text,
            "rate_kinds": {RateKind.FLAT.value: _("Flat rate per parcel"),
                           RateKind.WEIGHT.value: _("By weight: base plus per started kg")}}


def _field_errors(error: ValidationError | VendorError, renames: dict | None = None) -> dict:
    renames = renames or {}
    if isinstance(error, VendorError):
        key = renames.get(error.field, error.field) or "_"
        return {key: [error.message]}
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    return {renames.get(k, k): (v if isinstance(v, list) else [str(v)])
            for k, v in messages.items()}


@bp.get("/shipping")
@vendor_member_required
def profiles() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_SHIPPING)
    rows = db.session.scalars(shipping.profiles_select(g.vendor.id)
                              .options(selectinload(ShippingProfile.methods))).all()
    return render_template("vendors/shipping.html", profiles=rows, action_form=ActionForm())


# --- Profiles ------------------------------------------------------------------------------


def _profile_page(profile: ShippingProfile | None, values: dict, errors: dict,
                  status: int = 200) -> ResponseReturnValue:
    return render_template("vendors/shipping_profile_form.html", profile=profile,
                           values=values, errors=errors, countries=country_choices(),
                           form=ActionForm()), status


def _save_profile(profile: ShippingProfile | None) -> ResponseReturnValue:
    form = ActionForm()
    values = {"name": request.form.get("name", ""),
              "countries": [c.strip().upper() for v in request.form.getlist("countries")
                            for c in v.replace(";", ",").split(",") if c.strip()],
              "handling_days": request.form.get("handling_days", "")}
    if not form.validate_on_submit():
        return _profile_page(profile, values, {"_": [_("The form expired; please try again.")]},
                             400)
    try:
        data = profile_form.load(request.form)
        if profile is None:
            profile = shipping.create_profile(g.actor, data)
        else:
            shipping.update_profile(g.actor, profile.id, data)
    except (ValidationError, VendorError) as error:
        db.session.rollback()
        status = error.status if isinstance(error, VendorError) else 422
        return _profile_page(profile, values, _field_errors(error), status)
    db.session.commit()
    flash(_("The shipping profile %(name)s was saved.", name=profile.name), "success")
    return redirect(url_for("vendors.shipping.profiles"), 303)


@bp.route("/shipping/new", methods=["GET", "POST"])
@vendor_member_required
def new_profile() -> ResponseReturnValue:
    g.actor.require(Permission.MANAGE_SHIPPING)
    if request.method == "POST":
        return _save_profile(None)
    return _profile_page(None, {"name": "", "countries": [g.vendor.country],
                                "handling_days": "1"}, {})


@bp.route("/shipping/<int:profile_id>/edit", methods=["GET", "POST"])
@vendor_member_required
def edit_profile(profile_id: int) -> ResponseReturnValue:
    profile = get_vendor_owned_or_404(ShippingProfile, profile_id, g.vendor.id)
    g.actor.require(Permission.MANAGE_SHIPPING)
    if request.method == "POST":
        return _save_profile(profile)
    return _profile_page(profile, {"name": profile.name, "countries": profile.countries,
                                   "handling_days": str(profile.handling_days)}, {})


@bp.post("/shipping/<int:profile_id>/delete")
@vendor_member_required
def delete_profile(profile_id: int) -> ResponseReturnValue:
    profile = get_vendor_owned_or_404(ShippingProfile, profile_id, g.vendor.id)
    g.actor.require(Permission.MANAGE_SHIPPING)
    if ActionForm().validate_on_submit():
        name = shipping.delete_profile(g.actor, profile.id)
        db.session.commit()
        flash(_("The shipping profile %(name)s was deleted.", name=name), "success")
    else:
        flash(_("The form expired; please try again."), "error")
    return redirect(url_for("vendors.shipping.profiles"), 303)


# --- Methods -------------------------------------------------------------------------------


def _method_page(profile: ShippingProfile, method: ShippingMethod | None, values: dict,
                 errors: dict, status: int = 200) -> ResponseReturnValue:
    return render_template("vendors/shipping_method_form.html", profile=profile,
                           method=method, values=values, errors=errors,
                           currency=method.currency if method else g.vendor.default_currency,
                           form=ActionForm()), status


def _save_method(profile: ShippingProfile, method: ShippingMethod | None) -> ResponseReturnValue:
    currency = method.currency if method else g.vendor.default_currency
    values = {key: request.form.get(key, "") for key in
              ("name", "kind", "base", "per_kg", "free_over")}
    values["active"] = request.form.get("active") in {"y", "on", "1", "true"}
    if not ActionForm().validate_on_submit():
        return _method_page(profile, method, values,
                            {"_": [_("The form expired; please try again.")]}, 400)
    try:
        data = MethodFormSchema(currency).load(request.form)
        if method is None:
            method = shipping.create_method(g.actor, profile.id, data)
        else:
            shipping.update_method(g.actor, method.id, data)
    except (ValidationError, VendorError) as error:
        db.session.rollback()
        status = error.status if isinstance(error, VendorError) else 422
        return _method_page(profile, method, values, _field_errors(error, _METHOD_FIELDS),
                            status)
    db.session.commit()
    flash(_("The shipping method %(name)s was saved.", name=method.name), "success")
    return redirect(url_for("vendors.shipping.profiles"), 303)


@bp.route("/shipping/<int:profile_id>/methods/new", methods=["GET", "POST"])
@vendor_member_required
def new_method(profile_id: int) -> ResponseReturnValue:
    profile = get_vendor_owned_or_404(ShippingProfile, profile_id, g.vendor.id)
    g.actor.require(Permission.MANAGE_SHIPPING)
    if request.method == "POST":
        return _save_method(profile, None)
    return _method_page(profile, None, {"name": "", "kind": RateKind.FLAT.value, "base": "",
                                        "per_kg": "", "free_over": "", "active": True}, {})


@bp.route("/shipping/methods/<int:method_id>/edit", methods=["GET", "POST"])
@vendor_member_required
def edit_method(method_id: int) -> ResponseReturnValue:
    method = get_vendor_owned_or_404(ShippingMethod, method_id, g.vendor.id)
    g.actor.require(Permission.MANAGE_SHIPPING)
    if request.method == "POST":
        return _save_method(method.profile, method)
    currency = method.currency
    return _method_page(method.profile, method, {
        "name": method.name, "kind": method.kind.value,
        "base": _decimal(method.base_minor, currency),
        "per_kg": _decimal(method.per_kg_minor, currency),
        "free_over": _decimal(method.free_over_minor, currency), "active": method.active,
    }, {})


@bp.post("/shipping/methods/<int:method_id>/delete")
@vendor_member_required
def delete_method(method_id: int) -> ResponseReturnValue:
    method = get_vendor_owned_or_404(ShippingMethod, method_id, g.vendor.id)
    g.actor.require(Permission.MANAGE_SHIPPING)
    if ActionForm().validate_on_submit():
        name = shipping.delete_method(g.actor, method.id)
        db.session.commit()
        flash(_("The shipping method %(name)s was deleted.", name=name), "success")
    else:
        flash(_("The form expired; please try again."), "error")
    return redirect(url_for("vendors.shipping.profiles"), 303)
