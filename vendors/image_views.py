"""Serving product photos from the database: to buyers for live products, with year-long
immutable caching (the URL carries the bytes' SHA-256, so a new photo is a new URL).

The portal serves every photo of the vendor's own products (drafts included) from
``vendors.catalog.image``; this blueprint only serves photos buyers may see.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from marketplace.extensions import db
from vendors.images import image_bytes
from vendors.models import Product, ProductImage, Vendor
from vendors.rich_text import render as render_rich_text
from vendors.search import visible_products

bp = Blueprint("media", __name__, url_prefix="/media")

YEAR = 365 * 24 * 3600
SIZES = ("full", "thumb")


def send_image(image_id: int, size: str, *, public: bool) -> ResponseReturnValue:
    """The photo's bytes with an ETag; 304 when the browser has them already."""
    if size not in SIZES:
        abort(404)
    found = image_bytes(image_id, size)
    if found is None:
        abort(404)
    data, content_type, digest = found
    etag = f"{digest[:32]}-{size}"
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(data, mimetype=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = (f"public, max-age={YEAR}, immutable" if public
                                         else "private, max-age=3600")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/products/<int:image_id>-<digest>/<size>")
def product_image(image_id: int, digest: str, size: str) -> ResponseReturnValue:
    shown = db.session.scalar(
        select(ProductImage.digest).join(Product, Product.id == ProductImage.product_id)
        .join(Vendor, Vendor.id == Product.vendor_id)
        .where(ProductImage.id == image_id, ProductImage.pending.is_(False), visible_products())
    )
    if shown is None or not shown.startswith(digest) or len(digest) < 16:
        abort(404)
    return send_image(image_id, size, public=True)


def public_url(image: ProductImage, size: str = "full", **url_options) -> str:
    return url_for("media.product_image", image_id=image.id, digest=image.digest[:16],
                   size=size, **url_options)


def product_photos(product_id: int) -> list[dict]:
    """A live product's photos for its page: URLs and sizes, main photo first."""
    images = db.session.scalars(
        select(ProductImage).where(ProductImage.product_id == int(product_id),
                                   ProductImage.pending.is_(False))
        .order_by(ProductImage.position, ProductImage.id)
    ).all()
    return [{"url": public_url(image), "thumb_url": public_url(image, "thumb"),
             "width": image.width, "height": image.height, "alt": image.alt}
            for image in images]


bp.add_app_template_global(product_photos, "product_photos")
# ``{{ description|rich_text }}``: a product description as safe HTML (vendors.rich_text).
bp.add_app_template_filter(render_rich_text, "rich_text")
