"""The catalog API under ``/api/v1/catalog``: the category tree, product listings with facets,
product detail and search. Same query parsing and services as the HTML pages
(``buyers.schemas.CatalogQuerySchema``, ``buyers.browse``, ``buyers.catalog``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from buyers.browse import Listing, Scope, build_listing
from buyers.catalog import (
    CategoryNode,
    ProductCard,
    category_tree,
    current_rates,
    product_detail,
)
from buyers.prices import approximate
from buyers.schemas import (
    CatalogApiQuerySchema,
    CategoryTreeSchema,
    CurrencyQuerySchema,
    ProductDetailSchema,
    ProductListSchema,
    SearchApiQuerySchema,
    SearchResultSchema,
)
from marketplace.extensions import csrf
from marketplace.money import Money
from marketplace.openapi import document, error_responses, json_response

bp = Blueprint("catalog_api", __name__, url_prefix="/api/v1/catalog")
# Public, read-only GETs; see marketplace.api for why API blueprints are CSRF-exempt.
csrf.exempt(bp)

list_query = CatalogApiQuerySchema()
search_query = SearchApiQuerySchema()
detail_query = CurrencyQuerySchema()
tree_schema = CategoryTreeSchema()
list_schema = ProductListSchema()
search_schema = SearchResultSchema()
detail_schema = ProductDetailSchema()


def _money(money: Money | None) -> dict[str, Any] | None:
    if money is None:
        return None
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _approximate(money: Money | None, currency: str,
                 rates: dict[str, int]) -> dict[str, Any] | None:
    return _money(approximate(money, currency, rates)) if money is not None else None


def _stars(x100: int, count: int) -> float | None:
    return x100 / 100 if count else None


def _node(node: CategoryNode) -> dict[str, Any]:
    return {"id": node.id, "name": node.name, "slug": node.slug, "parent_id": node.parent_id,
            "children": [_node(child) for child in node.children]}


def _summary(card: ProductCard, currency: str, rates: dict[str, int],
             highlight: str | None) -> dict[str, Any]:
    return {
        "id": card.id,
        "title": card.title,
        "slug": card.slug,
        "url": url_for("buyers.product", product_id=card.id, slug=card.slug),
        "vendor": {"id": card.vendor_id, "name": card.vendor_name, "slug": card.vendor_slug},
        "price": _money(card.lowest_price),
        "price_varies": card.price_varies,
        "approximate_price": _money(approximate(card.lowest_price, currency, rates)),
        "compare_at_price": _money(card.compare_at),
        "approximate_compare_at_price": _approximate(card.compare_at, currency, rates),
        "in_stock": card.in_stock,
        "rating": _stars(card.rating_x100, card.rating_count),
        "rating_count": card.rating_count,
        "highlight": highlight,
    }


def _listing_body(listing: Listing, rates: dict[str, int]) -> dict[str, Any]:
    page = listing.page
    return {
        "items": [_summary(card, listing.currency, rates, listing.highlights.get(card.id))
                  for card in listing.cards],
        "facets": listing.facets,
        "meta": {"page": page, "per_page": listing.per_page, "total": listing.total,
                 "pages": listing.pages if listing.total else 0, "currency": listing.currency},
        "links": {
            "self_": listing.page_url(page),
            "next": listing.page_url(page + 1) if page < listing.pages else None,
            "prev": (listing.page_url(min(page - 1, listing.pages))
                     if page > 1 and listing.total else None),
        },
    }


def _run(args: dict[str, Any], endpoint: str) -> tuple[Listing, dict[str, int]]:
    rates = current_rates()
    listing = build_listing(args, Scope(), tree=category_tree(), locale=str(get_locale()),
                            currency=args["currency"], rates=rates,
                            base_path=url_for(endpoint))
    return listing, rates


@bp.get("/categories")
@document(
    summary="The category tree",
    description="Root categories in display order, each with its children, recursively.",
    tags=["catalog"],
    responses={200: json_response(CategoryTreeSchema, "The tree."), **error_responses(503)},
)
def categories():
    return jsonify(tree_schema.dump({"items": [_node(n) for n in category_tree().roots]}))


@bp.get("/products")
@document(
    summary="List products",
    description=(
        "Visible products (approved, from approved vendors) with facets and paging, as the "
        "category pages show them. Without `q` and `sort`, in-stock products come first, "
        "then the newest. `per_page` above 100 is clamped; a reversed price range is swapped; "
        "unknown parameters are ignored."
    ),
    tags=["catalog"],
    parameters=[{"in": "query", "schema": CatalogApiQuerySchema}],
    responses={200: json_response(ProductListSchema, "A page of products with facets."),
               **error_responses(422, 503)},
)
def list_products():
    args = list_query.load(request.args)
    listing, rates = _run(args, "catalog_api.list_products")
    return jsonify(list_schema.dump(_listing_body(listing, rates)))


@bp.get("/search")
@document(
    summary="Search products",
    description=(
        "Full-text search over titles, descriptions, attributes, vendor and category names, "
        "with the same filters and facets as `/products`. When nothing matches, a corrected "
        "spelling is searched instead (`corrected_text`); a likelier spelling is offered in "
        "`suggestion`. `highlight` holds each title as HTML with the matched words in <mark>."
    ),
    tags=["catalog"],
    parameters=[{"in": "query", "schema": SearchApiQuerySchema}],
    responses={200: json_response(SearchResultSchema, "A page of matches with facets."),
               **error_responses(422, 503)},
)
def search_products():
    args = search_query.load(request.args)
    listing, rates = _run(args, "catalog_api.search_products")
    body = _listing_body(listing, rates)
    body.update(query=args["q"], corrected_text=listing.result.corrected_text,
                suggestion=listing.result.suggestion)
    return jsonify(search_schema.dump(body))


@bp.get("/products/<int:product_id>")
@document(
    summary="One product",
    description=(
        "A visible product with its variants (prices in the vendor's currency, with an "
        "approximate conversion into `currency`), stock per variant, categories and vendor."
    ),
    tags=["catalog"],
    parameters=[{"in": "query", "schema": CurrencyQuerySchema}],
    responses={200: json_response(ProductDetailSchema, "The product."),
               **error_responses(404, 422, 503)},
)
def get_product(product_id: int):
    currency = detail_query.load(request.args)["currency"]
    detail = product_detail(product_id, str(get_locale()))
    if detail is None:
        abort(404, description=_("There is no product with id %(id)s.", id=product_id))
    rates = current_rates()
    vendor = detail.vendor
    return jsonify(detail_schema.dump({
        "id": detail.id,
        "title": detail.title,
        "title_locale": detail.title_locale,
        "slug": detail.slug,
        "url": url_for("buyers.product", product_id=detail.id, slug=detail.slug),
        "description": detail.description,
        "description_locale": detail.description_locale,
        "categories": [{"id": n.id, "name": n.name, "slug": n.slug}
                       for n in category_tree().path(detail.category_id)],
        "vendor": {"id": vendor.id, "name": vendor.name, "slug": vendor.slug,
                   "country": vendor.country, "ships_from": list(vendor.ships_from),
                   "rating": _stars(vendor.rating_x100, vendor.rating_count),
                   "rating_count": vendor.rating_count,
                   "url": url_for("buyers.vendor", slug=vendor.slug)},
        "price": _money(detail.lowest_price),
        "approximate_price": _money(approximate(detail.lowest_price, currency, rates)),
        "in_stock": detail.in_stock,
        "rating": _stars(detail.rating_x100, detail.rating_count),
        "rating_count": detail.rating_count,
        "options": {name: list(values) for name, values in detail.axes},
        "variants": [
            {"id": v.id, "sku": v.sku, "attributes": v.attributes, "price": _money(v.price),
             "approximate_price": _money(approximate(v.price, currency, rates)),
             "compare_at_price": _money(v.compare_at),
             "approximate_compare_at_price": _approximate(v.compare_at, currency, rates),
             "available": v.available, "in_stock": v.in_stock}
            for v in detail.variants
        ],
    }))
