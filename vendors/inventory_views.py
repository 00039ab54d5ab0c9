"""The inventory section: stock per variant and location, adjustments, movements, locations
and the low-stock list (the products are the catalog section's, vendors/catalog_views.py)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.money import Money
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import inventory
from vendors.access import Permission, vendor_member_required
from vendors.countries import country_name
from vendors.errors import VendorError
from vendors.forms import (
    MOVEMENT_REASON_LABELS,
    AdjustmentForm,
    DefaultThresholdForm,
    LocationForm,
    ThresholdForm,
    show_error,
)
from vendors.models import MovementReason, StockLocation, StockMovement, Variant
from vendors.schemas import MovementQuerySchema, StockQuerySchema

bp = Blueprint("inventory", __name__)

stock_query = StockQuerySchema()
movement_query = MovementQuerySchema()
page_query = PageQuerySchema()

RECENT_MOVEMENTS = 10


def _locations() -> list[StockLocation]:
    return list(db.session.scalars(inventory.locations_select(g.vendor.id)))


def _refused(form, error: VendorError) -> None:
    db.session.rollback()
    if not show_error(form, error):
        flash(error.message, "error")


def _format_price(variant: Variant) -> str:
    return Money(variant.price_minor, variant.currency).format(str(get_locale()))


@bp.context_processor
def _labels() -> dict:
    return {"reason_labels": MOVEMENT_REASON_LABELS, "country_name": country_name,
            "format_price": _format_price}


# --- Stock ---------------------------------------------------------------------------------


@bp.get("/stock")
@vendor_member_required
def stock() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_INVENTORY)
    query = stock_query.load(request.args)
    rows = paginate(
        inventory.stock_overview(g.vendor.id, location_id=query["location_id"],
                                 search=query["q"], low_only=query["low"]),
        query["page"], query["per_page"],
    )
    return render_template("vendors/stock.html", rows=rows, query=query,
                           locations=_locations())


@bp.get("/stock/low")
@vendor_member_required
def low_stock() -> ResponseReturnValue:
    return _low_stock_page(DefaultThresholdForm(threshold=g.vendor.low_stock_threshold))


def _low_stock_page(form: DefaultThresholdForm, status: int = 200) -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_INVENTORY)
    query = page_query.load(request.args)
    rows = paginate(inventory.stock_overview(g.vendor.id, low_only=True),
                    query["page"], query["per_page"])
    return render_template("vendors/low_stock.html", rows=rows, form=form), status


@bp.post("/stock/default-threshold")
@vendor_member_required
def default_threshold() -> ResponseReturnValue:
    form = DefaultThresholdForm()
    if not form.validate_on_submit():
        return _low_stock_page(form, 422)
    try:
        inventory.set_default_threshold(g.actor, form.threshold.data)
    except VendorError as error:
        _refused(form, error)
        return _low_stock_page(form, error.status)
    db.session.commit()
    flash(_("Variants with %(num)d or fewer units available now count as low on stock.",
            num=form.threshold.data), "success")
    return redirect(url_for("vendors.inventory.low_stock"), 303)


@bp.get("/stock/movements")
@vendor_member_required
def movements() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_INVENTORY)
    query = movement_query.load(request.args)
    page = paginate(
        inventory.movements_select(g.vendor.id, variant_id=query["variant_id"],
                                   location_id=query["location_id"], reason=query["reason"])
        .options(selectinload(StockMovement.variant), selectinload(StockMovement.location),
                 selectinload(StockMovement.user), selectinload(StockMovement.token)),
        query["page"], query["per_page"],
    )
    return render_template("vendors/movements.html", movements=page, query=query,
                           locations=_locations(), reasons=MovementReason)


# --- One variant ---------------------------------------------------------------------------


def _variant_page(variant: Variant, *, adjust_form: AdjustmentForm | None = None,
                  threshold_form: ThresholdForm | None = None,
                  status: int = 200) -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_INVENTORY)
    locations = _locations()
    recent = db.session.scalars(
        inventory.movements_select(g.vendor.id, variant_id=variant.id).limit(RECENT_MOVEMENTS)
    ).all()
    return render_template(
        "vendors/variant_stock.html", variant=variant,
        stock=inventory.variant_stock(g.vendor.id, variant.id), recent=recent,
        adjust_form=adjust_form or AdjustmentForm(locations),
        threshold_form=threshold_form or ThresholdForm(threshold=variant.low_stock_threshold),
        has_locations=bool(locations),
    ), status


@bp.get("/variants/<int:variant_id>")
@vendor_member_required
def variant(variant_id: int) -> ResponseReturnValue:
    return _variant_page(get_vendor_owned_or_404(Variant, variant_id, g.vendor.id))


@bp.post("/variants/<int:variant_id>/adjust")
@vendor_member_required
def adjust(variant_id: int) -> ResponseReturnValue:
    variant = get_vendor_owned_or_404(Variant, variant_id, g.vendor.id)
    form = AdjustmentForm(_locations())
    if not form.validate_on_submit():
        return _variant_page(variant, adjust_form=form, status=422)
    try:
        movement = inventory.adjust_stock(
            g.actor, variant_id=variant.id, location_id=form.location_id.data,
            reason=form.reason.data, quantity=form.quantity.data, note=form.note.data or "",
        )
    except VendorError as error:
        _refused(form, error)
        return _variant_page(variant, adjust_form=form, status=error.status)
    db.session.commit()
    flash(_("Stock of %(sku)s at %(location)s is now %(on_hand)d.", sku=variant.sku,
            location=movement.location.name, on_hand=movement.on_hand_after), "success")
    return redirect(url_for("vendors.inventory.variant", variant_id=variant.id), 303)


@bp.post("/variants/<int:variant_id>/threshold")
@vendor_member_required
def threshold(variant_id: int) -> ResponseReturnValue:
    variant = get_vendor_owned_or_404(Variant, variant_id, g.vendor.id)
    form = ThresholdForm()
    if not form.validate_on_submit():
        return _variant_page(variant, threshold_form=form, status=422)
    try:
        inventory.set_variant_threshold(g.actor, variant.id, form.threshold.data)
    except VendorError as error:
        _refused(form, error)
        return _variant_page(variant, threshold_form=form, status=error.status)
    db.session.commit()
    flash(_("The low-stock threshold of %(sku)s was saved.", sku=variant.sku), "success")
    return redirect(url_for("vendors.inventory.variant", variant_id=variant.id), 303)


# --- Locations -----------------------------------------------------------------------------


@bp.get("/locations")
@vendor_member_required
def locations() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_INVENTORY)
    query = page_query.load(request.args)
    page = paginate(inventory.locations_select(g.vendor.id), query["page"], query["per_page"])
    return render_template("vendors/locations.html", locations=page)


def _location_input(form: LocationForm) -> inventory.LocationInput:
    return inventory.LocationInput(name=form.name.data or "", country=form.country.data or "",
                                   address=form.address.data or "",
                                   priority=form.priority.data)


@bp.route("/locations/new", methods=["GET", "POST"])
@vendor_member_required
def new_location() -> ResponseReturnValue:
    g.actor.require(Permission.MANAGE_LOCATIONS)
    form = LocationForm(country=g.vendor.country)
    status = 200
    if form.validate_on_submit():
        try:
            location = inventory.create_location(g.actor, _location_input(form))
        except VendorError as error:
            _refused(form, error)
            status = error.status
        else:
            db.session.commit()
            flash(_("The location %(name)s was added.", name=location.name), "success")
            return redirect(url_for("vendors.inventory.locations"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("vendors/location_form.html", form=form, location=None), status


@bp.route("/locations/<int:location_id>/edit", methods=["GET", "POST"])
@vendor_member_required
def edit_location(location_id: int) -> ResponseReturnValue:
    location = get_vendor_owned_or_404(StockLocation, location_id, g.vendor.id)
    g.actor.require(Permission.MANAGE_LOCATIONS)
    form = LocationForm(obj=location)
    status = 200
    if form.validate_on_submit():
        try:
            inventory.update_location(g.actor, location.id,
                                      _location_input(form).__dict__)
        except VendorError as error:
            _refused(form, error)
            status = error.status
        else:
            db.session.commit()
            flash(_("The location %(name)s was saved.", name=location.name), "success")
            return redirect(url_for("vendors.inventory.locations"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("vendors/location_form.html", form=form, location=location), status
