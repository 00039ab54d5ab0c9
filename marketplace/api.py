"""The versioned JSON API's base: its index, the category tree and the OpenAPI document.

Domain packages add their endpoints in their own ``api.py`` (as separate blueprints under
``/api/v1/...``), describe them with ``marketplace.openapi.document`` and page through lists
with ``marketplace.pagination``. Every error under ``/api/`` is already JSON (see
``marketplace.errors.wants_json``): ``{"error": {"status", "title", "message", "fields"?}}``.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.extensions import csrf, db
from marketplace.models import Category
from marketplace.openapi import (
    API_VERSION,
    build_spec,
    document,
    error_responses,
    json_response,
    page_of,
)
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.schemas import CategorySchema

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# API clients will authenticate with tokens sent in a header, which a cross-site form can't
# forge, so the session-based CSRF token does not apply here (for now every endpoint is a
# public, read-only GET). Contract for the token-auth work: API views must never authenticate
# from the session cookie, or this exemption would reopen CSRF. flask-wtf exempts blueprints by
# name, so a blueprint nested under this one needs its own ``csrf.exempt``.
csrf.exempt(bp)

page_query = PageQuerySchema()
category_schema = CategorySchema()


@bp.get("/")
@document(
    summary="API index",
    description="The API version and links to its collections and its OpenAPI document.",
    tags=["meta"],
    responses={200: json_response({"type": "object"}, "Version and links.")},
)
def index():
    return jsonify(
        version=API_VERSION,
        links={
            "self": url_for("api.index"),
            "categories": url_for("api.list_categories"),
            "openapi": url_for("api.openapi_document"),
        },
    )


@bp.get("/categories")
@document(
    summary="List categories",
    description=(
        "The category tree flattened: every node with its `parent_id` (null for roots), "
        "ordered by position, then name."
    ),
    tags=["catalog"],
    parameters=[{"in": "query", "schema": PageQuerySchema}],
    responses={200: json_response(page_of(CategorySchema), "A page of categories."),
               **error_responses(422, 503)},
)
def list_categories():
    query = page_query.load(request.args)
    stmt = select(Category).order_by(Category.position, Category.name, Category.id)
    page = paginate(stmt, query["page"], query["per_page"])
    return jsonify(page.to_dict(category_schema))


@bp.get("/categories/<int:category_id>")
@document(
    summary="One category",
    tags=["catalog"],
    responses={200: json_response(CategorySchema, "The category."),
               **error_responses(404, 503)},
)
def get_category(category_id: int):
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404, description=_("There is no category with id %(id)s.", id=category_id))
    return jsonify(category_schema.dump(category))


@bp.get("/openapi.json")
@document(
    summary="This API's OpenAPI document",
    tags=["meta"],
    responses={200: json_response({"type": "object"}, "An OpenAPI 3.1 document.")},
)
def openapi_document():
    # Views and schemas are fixed once create_app returns, so the document is built once.
    spec = current_app.extensions.get("marketplace.openapi")
    if spec is None:
        spec = current_app.extensions["marketplace.openapi"] = build_spec(current_app)
    return jsonify(spec)
