"""The vendor API under /api/v1/vendor: the token's vendor's inventory and catalog, as JSON.

Requests authenticate ONLY with ``Authorization: Bearer <token>`` (a per-vendor API token an
owner creates in the portal); the session cookie is never read here, which is what makes the
CSRF exemption of this blueprint safe. Each endpoint needs a scope (``inventory:read``,
``inventory:write`` or ``catalog:read``); the services check the same permissions again.

Views are thin: load the body or query through a schema (a ``ValidationError`` is a 422 naming
each field), call one service, commit, dump. Another vendor's object is a 404; another
vendor's id inside a body is a 422 naming the field, like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.errors import error_response
from marketplace.extensions import csrf, db
from marketplace.openapi import document, error_responses, json_response, page_of
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import inventory, tokens
from vendors.access import SCOPE_PERMISSIONS, Actor, Permission
from vendors.catalog_schemas import CatalogProductSchema
from vendors.errors import register_error_handlers
from vendors.models import (
    Product,
    StockLevel,
    StockLocation,
    StockMovement,
    Variant,
    Vendor,
    VendorStatus,
)
from vendors.schemas import (
    AdjustmentResultSchema,
    LevelQuerySchema,
    LowStockSchema,
    MovementQuerySchema,
    ProductQuerySchema,
    StockAdjustmentSchema,
    StockLevelSchema,
    StockLocationSchema,
    StockMovementSchema,
    ThresholdSchema,
    VariantQuerySchema,
    VendorVariantSchema,
)

bp = Blueprint("vendor_api", __name__, url_prefix="/api/v1/vendor")
# Header tokens can't be forged by a cross-site form, and nothing here reads the session.
csrf.exempt(bp)
register_error_handlers(bp)

location_schema = StockLocationSchema()
location_patch_schema = StockLocationSchema(partial=True)
level_schema = StockLevelSchema()
adjustment_schema = StockAdjustmentSchema()
adjustment_result_schema = AdjustmentResultSchema()
movement_schema = StockMovementSchema()
threshold_schema = ThresholdSchema()
product_schema = CatalogProductSchema()
variant_schema = VendorVariantSchema()
low_stock_schema = LowStockSchema()
page_query = PageQuerySchema()
level_query = LevelQuerySchema()
movement_query = MovementQuerySchema()
product_query = ProductQuerySchema()
variant_query = VariantQuerySchema()

AUTH = ("Authenticate with `Authorization: Bearer <token>`, a vendor API token created by "
        "the shop's owner in the vendor portal. ")


def _unauthorized(message: str, error: str | None = None) -> ResponseReturnValue:
    response = error_response(401, _("Please authenticate"), message)
    challenge = 'Bearer realm="vendor-api"' + (f', error="{error}"' if error else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


@bp.before_request
def _authenticate() -> ResponseReturnValue | None:
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return _unauthorized(_("Send a vendor API token in the header "
                               "'Authorization: Bearer <token>'."))
    token = tokens.active_token(secret)
    if token is None:
        return _unauthorized(_("This API token is unknown or was revoked."), "invalid_token")
    if db.session.scalar(select(Vendor.status).where(Vendor.id == token.vendor_id)) \
            == VendorStatus.SUSPENDED:
        # A suspended shop can't change its catalog, stock or orders behind the admins' back.
        return error_response(403, _("Shop suspended"), _(
            "This shop is suspended, so its API tokens don't work until the marketplace "
            "reinstates it. The vendor portal shows why."))
    tokens.record_use(token.id)
    db.session.commit()
    g.actor = Actor.token(token.vendor_id, token.id, token.scopes)
    return None


def requires(permission: Permission) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A 403 naming the scopes that would allow the view, unless the token has one."""
    granting = [scope for scope, allowed in SCOPE_PERMISSIONS.items() if permission in allowed]

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not g.actor.can(permission):
                return error_response(403, _("Missing scope"), _(
                    "This token doesn't have the scope this needs: %(scopes)s.",
                    scopes=" or ".join(granting)))
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _body(schema: Schema) -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError({"_": [_("Send a JSON object with Content-Type: "
                                       "application/json.")]})
    return schema.load(data)


def _page(stmt, query: dict, schema: Schema) -> ResponseReturnValue:
    return jsonify(paginate(stmt, query["page"], query["per_page"]).to_dict(schema))


# --- Stock locations -----------------------------------------------------------------------


@bp.get("/locations")
@document(summary="List stock locations", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read. Ordered by priority, then name.",
          parameters=[{"in": "query", "schema": PageQuerySchema}],
          responses={200: json_response(page_of(StockLocationSchema), "A page of locations."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_INVENTORY)
def list_locations() -> ResponseReturnValue:
    return _page(inventory.locations_select(g.actor.vendor_id), page_query.load(request.args),
                 location_schema)


@bp.post("/locations")
@document("post", summary="Add a stock location", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:write.",
          requestBody={"content": {"application/json": {"schema": StockLocationSchema}}},
          responses={201: json_response(StockLocationSchema, "The new location."),
                     **error_responses(401, 403, 422)})
@requires(Permission.MANAGE_LOCATIONS)
def create_location() -> ResponseReturnValue:
    data = _body(location_schema)
    location = inventory.create_location(g.actor, inventory.LocationInput(**data))
    db.session.commit()
    return jsonify(location_schema.dump(location)), 201


@bp.get("/locations/<int:location_id>")
@document(summary="One stock location", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read.",
          responses={200: json_response(StockLocationSchema, "The location."),
                     **error_responses(401, 403, 404)})
@requires(Permission.VIEW_INVENTORY)
def get_location(location_id: int) -> ResponseReturnValue:
    location = get_vendor_owned_or_404(StockLocation, location_id, g.actor.vendor_id)
    return jsonify(location_schema.dump(location))


@bp.patch("/locations/<int:location_id>")
@document("patch", summary="Change a stock location", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:write. Send only the fields to change.",
          requestBody={"content": {"application/json": {"schema": StockLocationSchema}}},
          responses={200: json_response(StockLocationSchema, "The changed location."),
                     **error_responses(401, 403, 404, 422)})
@requires(Permission.MANAGE_LOCATIONS)
def update_location(location_id: int) -> ResponseReturnValue:
    location = get_vendor_owned_or_404(StockLocation, location_id, g.actor.vendor_id)
    changes = _body(location_patch_schema)
    inventory.update_location(g.actor, location.id, changes)
    db.session.commit()
    return jsonify(location_schema.dump(location))


# --- Stock levels and adjustments ----------------------------------------------------------


@bp.get("/stock-levels")
@document(summary="List stock levels", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read. One row per variant and location that "
                             "ever held stock; filter by `variant_id` or `location_id`.",
          parameters=[{"in": "query", "schema": LevelQuerySchema}],
          responses={200: json_response(page_of(StockLevelSchema), "A page of levels."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_INVENTORY)
def list_levels() -> ResponseReturnValue:
    query = level_query.load(request.args)
    stmt = inventory.levels_select(g.actor.vendor_id, variant_id=query["variant_id"],
                                   location_id=query["location_id"])
    return _page(stmt.options(selectinload(StockLevel.variant)), query, level_schema)


@bp.get("/stock-levels/<int:level_id>")
@document(summary="One stock level", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read.",
          responses={200: json_response(StockLevelSchema, "The level."),
                     **error_responses(401, 403, 404)})
@requires(Permission.VIEW_INVENTORY)
def get_level(level_id: int) -> ResponseReturnValue:
    return jsonify(level_schema.dump(
        get_vendor_owned_or_404(StockLevel, level_id, g.actor.vendor_id)))


@bp.post("/stock-adjustments")
@document("post", summary="Adjust stock", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:write. `received` adds `quantity` units, "
                             "`damaged` removes them, `count_correction` sets the on-hand "
                             "figure to `quantity` (the difference is recorded). The level "
                             "and its movement are written together; a decrease below the "
                             "reserved units is a 409 and changes nothing.",
          requestBody={"content": {"application/json": {"schema": StockAdjustmentSchema}}},
          responses={201: json_response(AdjustmentResultSchema,
                                        "The recorded movement and the level after it."),
                     **error_responses(401, 403, 409, 422)})
@requires(Permission.ADJUST_STOCK)
def adjust_stock() -> ResponseReturnValue:
    movement = inventory.adjust_stock(g.actor, **_body(adjustment_schema))
    db.session.commit()
    level = db.session.scalar(
        inventory.levels_select(g.actor.vendor_id, variant_id=movement.variant_id,
                                location_id=movement.location_id))
    return jsonify(adjustment_result_schema.dump({"movement": movement, "level": level})), 201


@bp.get("/stock-movements")
@document(summary="List stock movements", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read. The append-only history, newest first; "
                             "filter by `variant_id`, `location_id` or `reason`.",
          parameters=[{"in": "query", "schema": MovementQuerySchema}],
          responses={200: json_response(page_of(StockMovementSchema), "A page of movements."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_INVENTORY)
def list_movements() -> ResponseReturnValue:
    query = movement_query.load(request.args)
    stmt = inventory.movements_select(g.actor.vendor_id, variant_id=query["variant_id"],
                                      location_id=query["location_id"], reason=query["reason"])
    return _page(stmt.options(selectinload(StockMovement.variant)), query, movement_schema)


@bp.get("/stock-movements/<int:movement_id>")
@document(summary="One stock movement", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read.",
          responses={200: json_response(StockMovementSchema, "The movement."),
                     **error_responses(401, 403, 404)})
@requires(Permission.VIEW_INVENTORY)
def get_movement(movement_id: int) -> ResponseReturnValue:
    return jsonify(movement_schema.dump(
        get_vendor_owned_or_404(StockMovement, movement_id, g.actor.vendor_id)))


@bp.get("/low-stock")
@document(summary="Variants low on stock", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:read. Variants of non-archived products whose "
                             "available units (all locations) are at or below their "
                             "threshold, fewest first.",
          parameters=[{"in": "query", "schema": PageQuerySchema}],
          responses={200: json_response(page_of(LowStockSchema), "A page of variants."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_INVENTORY)
def low_stock() -> ResponseReturnValue:
    return _page(inventory.stock_overview(g.actor.vendor_id, low_only=True),
                 page_query.load(request.args), low_stock_schema)


@bp.put("/variants/<int:variant_id>/low-stock-threshold")
@document("put", summary="Set a variant's low-stock threshold", tags=["vendor inventory"],
          description=AUTH + "Scope: inventory:write. `null` returns to the shop's default.",
          requestBody={"content": {"application/json": {"schema": ThresholdSchema}}},
          responses={200: json_response(VendorVariantSchema, "The variant."),
                     **error_responses(401, 403, 404, 422)})
@requires(Permission.MANAGE_THRESHOLDS)
def set_threshold(variant_id: int) -> ResponseReturnValue:
    variant = get_vendor_owned_or_404(Variant, variant_id, g.actor.vendor_id)
    data = _body(threshold_schema)
    inventory.set_variant_threshold(g.actor, variant.id, data["threshold"])
    db.session.commit()
    return jsonify(variant_schema.dump(variant))


# --- Catalog (read-only) -------------------------------------------------------------------


@bp.get("/products")
@document(summary="List the shop's products", tags=["vendor catalog"],
          description=AUTH + "Scope: catalog:read. Every status, with variants.",
          parameters=[{"in": "query", "schema": ProductQuerySchema}],
          responses={200: json_response(page_of(CatalogProductSchema), "A page of products."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_CATALOG)
def list_products() -> ResponseReturnValue:
    query = product_query.load(request.args)
    stmt = inventory.products_select(g.actor.vendor_id, status=query["status"])
    return _page(stmt.options(selectinload(Product.variants), selectinload(Product.translations),
                              selectinload(Product.images)), query, product_schema)


@bp.get("/products/<int:product_id>")
@document(summary="One product", tags=["vendor catalog"],
          description=AUTH + "Scope: catalog:read.",
          responses={200: json_response(CatalogProductSchema, "The product."),
                     **error_responses(401, 403, 404)})
@requires(Permission.VIEW_CATALOG)
def get_product(product_id: int) -> ResponseReturnValue:
    return jsonify(product_schema.dump(
        get_vendor_owned_or_404(Product, product_id, g.actor.vendor_id)))


@bp.get("/variants")
@document(summary="List the shop's variants", tags=["vendor catalog"],
          description=AUTH + "Scope: catalog:read. Filter by `product_id`.",
          parameters=[{"in": "query", "schema": VariantQuerySchema}],
          responses={200: json_response(page_of(VendorVariantSchema), "A page of variants."),
                     **error_responses(401, 403, 422)})
@requires(Permission.VIEW_CATALOG)
def list_variants() -> ResponseReturnValue:
    query = variant_query.load(request.args)
    return _page(inventory.variants_select(g.actor.vendor_id, product_id=query["product_id"]),
                 query, variant_schema)


@bp.get("/variants/<int:variant_id>")
@document(summary="One variant", tags=["vendor catalog"],
          description=AUTH + "Scope: catalog:read.",
          responses={200: json_response(VendorVariantSchema, "The variant."),
                     **error_responses(401, 403, 404)})
@requires(Permission.VIEW_CATALOG)
def get_variant(variant_id: int) -> ResponseReturnValue:
    return jsonify(variant_schema.dump(
        get_vendor_owned_or_404(Variant, variant_id, g.actor.vendor_id)))
