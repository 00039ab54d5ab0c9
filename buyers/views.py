"""The storefront's HTML pages."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from buyers import services

bp = Blueprint("buyers", __name__, template_folder="templates")

# Logos change rarely; a day of caching spares the database, and the ETag lets browsers
# revalidate cheaply after that.
LOGO_MAX_AGE = 86_400


@bp.get("/")
def home() -> ResponseReturnValue:
    return render_template(
        "buyers/home.html",
        categories=services.root_categories(),
        products=services.featured_products(),
        vendors=services.storefront_vendors(),
    )


@bp.get("/vendors/<int:vendor_id>/logo")
def vendor_logo(vendor_id: int) -> ResponseReturnValue:
    logo = services.vendor_logo(vendor_id)
    if logo is None:
        abort(404)
    response = Response(logo.data, mimetype=logo.mime)
    response.set_etag(logo.etag)
    response.cache_control.public = True
    response.cache_control.max_age = LOGO_MAX_AGE
    return response.make_conditional(request)
