"""The vendor portal's HTML pages: the front page, the vendor switcher, and the sections.

Each section is a blueprint nested under this one (endpoints ``vendors.<section>.<view>``):
``shop`` (application, profile, vacation, payouts), ``staff`` (the team and invitations),
``inventory`` (locations, stock, movements, products) and ``tokens`` (API tokens). Every view
works for ``g.vendor`` only, set by ``vendor_member_required``.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from marketplace.extensions import db
from marketplace.scoping import vendor_select
from vendors import services
from vendors.access import (
    ROLE_LABELS,
    SESSION_VENDOR_KEY,
    Permission,
    vendor_member_required,
)
from vendors.catalog_views import bp as catalog_bp
from vendors.errors import register_error_handlers
from vendors.forms import SwitchVendorForm
from vendors.import_views import bp as imports_bp
from vendors.inventory_views import bp as inventory_bp
from vendors.models import VendorMembership
from vendors.order_views import bp as orders_bp
from vendors.order_views import format_money
from vendors.orders import STATUS_LABELS
from vendors.shipping_views import bp as shipping_bp
from vendors.shop_views import bp as shop_bp
from vendors.staff_views import bp as staff_bp
from vendors.token_views import bp as tokens_bp

bp = Blueprint("vendors", __name__, url_prefix="/vendor", template_folder="templates",
               static_folder="static", static_url_path="/static")
for section in (shop_bp, staff_bp, inventory_bp, catalog_bp, tokens_bp, imports_bp,
                shipping_bp, orders_bp):
    bp.register_blueprint(section)
register_error_handlers(bp)

# The portal's navigation: (endpoint, label, permission needed to see it).
PORTAL_LINKS: list[tuple[str, str, Permission | None]] = [
    ("vendors.dashboard", _l("Overview"), None),
    ("vendors.shop.profile", _l("Shop"), None),
    ("vendors.inventory.stock", _l("Stock"), Permission.VIEW_INVENTORY),
    ("vendors.inventory.low_stock", _l("Low stock"), Permission.VIEW_INVENTORY),
    ("vendors.inventory.movements", _l("Movements"), Permission.VIEW_INVENTORY),
    ("vendors.inventory.locations", _l("Locations"), Permission.VIEW_INVENTORY),
    ("vendors.catalog.products", _l("Products"), Permission.VIEW_CATALOG),
    ("vendors.orders.index", _l("Orders"), Permission.VIEW_ORDERS),
    ("vendors.shipping.profiles", _l("Shipping"), Permission.VIEW_SHIPPING),
    ("vendors.staff.members", _l("Team"), Permission.VIEW_STAFF),
    ("vendors.shop.payouts", _l("Payouts"), Permission.VIEW_PAYOUTS),
    # Registered by payouts/ (vendors can't import it); shown once that blueprint is loaded.
    ("payouts.balance", _l("Balance & payouts"), Permission.VIEW_PAYOUTS),
    ("payouts.refunds.vendor_refunds", _l("Refunds"), Permission.VIEW_ORDERS),
    ("vendors.imports.index", _l("Catalog files"), Permission.IMPORT_CATALOG),
    ("vendors.tokens.tokens", _l("API tokens"), Permission.MANAGE_TOKENS),
]


@bp.context_processor
def _portal_nav() -> dict:
    actor = g.get("actor")
    if actor is None:
        return {"role_labels": ROLE_LABELS}
    links = [(endpoint, label) for endpoint, label, permission in PORTAL_LINKS
             if (permission is None or actor.can(permission))
             and endpoint in current_app.view_functions]
    memberships = db.session.scalars(
        db.select(VendorMembership).where(VendorMembership.user_id == current_user.id)
        .order_by(VendorMembership.id)
    ).all()
    return {"portal_links": links, "portal_memberships": memberships,
            "switch_form": SwitchVendorForm(), "role_labels": ROLE_LABELS,
            "Permission": Permission}


@bp.get("/")
@vendor_member_required
def dashboard() -> ResponseReturnValue:
    actor = g.actor
    return render_template(
        "vendors/dashboard.html", summary=services.dashboard_summary(g.vendor),
        orders=(services.orders_summary(g.vendor) if actor.can(Permission.VIEW_ORDERS)
                else None),
        low_stock=(services.low_stock_rows(g.vendor.id)
                   if actor.can(Permission.VIEW_INVENTORY) else []),
        order_status_labels=STATUS_LABELS, format_money=format_money,
    )


@bp.post("/switch")
@vendor_member_required
def switch_vendor() -> ResponseReturnValue:
    form = SwitchVendorForm()
    if not form.validate_on_submit():
        abort(400)
    membership = db.session.scalar(
        vendor_select(VendorMembership, form.vendor_id.data)
        .where(VendorMembership.user_id == current_user.id)
    )
    if membership is None:
        abort(404)
    session[SESSION_VENDOR_KEY] = membership.vendor_id
    flash(_("You are now working in %(shop)s.", shop=membership.vendor.name), "success")
    return redirect(url_for("vendors.dashboard"), 303)
