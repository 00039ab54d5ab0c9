"""Catalog editing in the vendor API: create and change products, their variants,
translations and photos, and move them through review. Scope: ``catalog:write``.

The same services and schemas as the portal's product form (``vendors.catalog``,
``vendors.catalog_schemas``). Editing a live product answers ``"result": "pending_review"``
with the waiting revision: the product shown is still the live version until a moderator
approves the edit.
"""

from __future__ import annotations

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from marketplace.extensions import db
from marketplace.openapi import document, error_responses, json_response
from marketplace.scoping import get_vendor_owned_or_404
from vendors import catalog, images
from vendors.access import Permission
from vendors.api import AUTH, _body, bp, requires
from vendors.catalog_schemas import (
    CatalogProductSchema,
    EditResultSchema,
    ImageSchema,
    ProductInputSchema,
)
from vendors.models import Product, ProductImage, ProductRevision

create_schema = ProductInputSchema()
patch_schema = ProductInputSchema(partial=True)
product_schema = CatalogProductSchema()
edit_result_schema = EditResultSchema()
image_schema = ImageSchema()

TAGS = ["vendor catalog"]
BODY = {"content": {"application/json": {"schema": ProductInputSchema}}}


@bp.post("/products")
@document("post", summary="Create a product", tags=TAGS,
          description=AUTH + "Scope: catalog:write. The product starts as a draft, priced in "
                             "the shop's currency. Give `variants`, or `option_types` with "
                             "`generate_variants` for one variant per combination. A SKU "
                             "used by another of the shop's products is a 422 naming the "
                             "field, and nothing is written.",
          requestBody=BODY,
          responses={201: json_response(CatalogProductSchema, "The new draft."),
                     **error_responses(401, 403, 422)})
@requires(Permission.EDIT_CATALOG)
def create_product() -> ResponseReturnValue:
    product = catalog.create_product(g.actor, _body(create_schema))
    db.session.commit()
    return jsonify(product_schema.dump(product)), 201


@bp.patch("/products/<int:product_id>")
@document("patch", summary="Change a product", tags=TAGS,
          description=AUTH + "Scope: catalog:write. Send only what changes; `texts` merge "
                             "per locale, `variants` per variant (by `id`, else by SKU; "
                             "variants not sent are kept; variants are never deleted). "
                             "`generate_variants` adds a variant for each combination of "
                             "`option_types` that no variant has yet and keeps the existing "
                             "ones (same id, SKU and price). A submitted product goes back "
                             "to `draft`: submit it again. A live product stays on sale "
                             "unchanged and the edit waits for review: `result` is "
                             "`pending_review`.",
          requestBody=BODY,
          responses={200: json_response(EditResultSchema, "What the edit did."),
                     **error_responses(401, 403, 404, 409, 422)})
@requires(Permission.EDIT_CATALOG)
def update_product(product_id: int) -> ResponseReturnValue:
    product = get_vendor_owned_or_404(Product, product_id, g.actor.vendor_id)
    saved = catalog.update_product(g.actor, product.id, _body(patch_schema))
    db.session.commit()
    pending = isinstance(saved, ProductRevision)
    return jsonify(edit_result_schema.dump({
        "result": "pending_review" if pending else "applied",
        "product": product, "revision": saved if pending else None,
    }))


def _lifecycle(action: str, service, permission: Permission, summary: str, description: str):
    @requires(permission)
    def view(product_id: int) -> ResponseReturnValue:
        product = get_vendor_owned_or_404(Product, product_id, g.actor.vendor_id)
        service(g.actor, product.id)
        db.session.commit()
        return jsonify(product_schema.dump(product))

    view.__name__ = f"{action}_product"
    document("post", summary=summary, tags=TAGS,
             description=AUTH + f"Scope: catalog:write. {description}",
             responses={200: json_response(CatalogProductSchema, "The product."),
                        **error_responses(401, 403, 404, 409)})(view)
    bp.add_url_rule(f"/products/<int:product_id>/{action}", f"{action}_product", view,
                    methods=["POST"])


_lifecycle("submit", catalog.submit_product, Permission.EDIT_CATALOG, "Send for review",
           "A draft or rejected product goes to the moderators.")
_lifecycle("withdraw", catalog.withdraw_product, Permission.EDIT_CATALOG, "Withdraw",
           "A product awaiting review goes back to draft.")
_lifecycle("archive", catalog.archive_product, Permission.ARCHIVE_CATALOG, "Archive",
           "Take the product off sale (a live one leaves the storefront).")
_lifecycle("restore", catalog.restore_product, Permission.ARCHIVE_CATALOG, "Restore",
           "An archived product comes back as a draft.")


@bp.post("/products/<int:product_id>/images")
@document("post", summary="Add a photo", tags=TAGS,
          description=AUTH + "Scope: catalog:write. `multipart/form-data` with the file in "
                             "`image` (JPEG, PNG or WebP, at most 5 MB and 40 megapixels; "
                             "checked by content) and an optional `alt` text. The photo is "
                             "re-encoded without its metadata.",
          requestBody={"content": {"multipart/form-data": {"schema": {
              "type": "object", "properties": {"image": {"type": "string", "format": "binary"},
                                               "alt": {"type": "string"}}}}}},
          responses={201: json_response(ImageSchema, "The photo."),
                     **error_responses(401, 403, 404, 409, 422)})
@requires(Permission.EDIT_CATALOG)
def add_image(product_id: int) -> ResponseReturnValue:
    product = get_vendor_owned_or_404(Product, product_id, g.actor.vendor_id)
    upload = request.files.get("image")
    raw = upload.stream.read(images.MAX_IMAGE_BYTES + 1) if upload else b""
    image = images.add_image(g.actor, product.id, raw, alt=request.form.get("alt", ""))
    db.session.commit()
    return jsonify(image_schema.dump(image)), 201


@bp.delete("/images/<int:image_id>")
@document("delete", summary="Remove a photo", tags=TAGS,
          description=AUTH + "Scope: catalog:write.",
          responses={204: {"description": "Removed."}, **error_responses(401, 403, 404)})
@requires(Permission.EDIT_CATALOG)
def delete_image(image_id: int) -> ResponseReturnValue:
    image = get_vendor_owned_or_404(ProductImage, image_id, g.actor.vendor_id)
    images.delete_image(g.actor, image.id)
    db.session.commit()
    return "", 204
