"""The vendor portal's HTML pages."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue

from vendors import services
from vendors.access import vendor_member_required

bp = Blueprint("vendors", __name__, url_prefix="/vendor", template_folder="templates")


@bp.get("/")
@vendor_member_required
def dashboard() -> ResponseReturnValue:
    return render_template("vendors/dashboard.html",
                           summary=services.dashboard_summary(g.vendor))
