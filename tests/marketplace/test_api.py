"""The JSON API base: categories, pagination, JSON errors and the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.openapi import build_spec, openapi_path
from marketplace.pagination import Page, paginate
from tests.factories import make_category


def _categories(count: int) -> list[Category]:
    categories = [make_category(f"Category {n:02d}") for n in range(count)]
    db.session.commit()
    return categories


# --- index -------------------------------------------------------------------------------


def test_index_names_the_version_and_links_to_collections(client):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    assert response.json == {
        "version": "1.0.0",
        "links": {
            "self": "/api/v1/",
            "categories": "/api/v1/categories",
            "openapi": "/api/v1/openapi.json",
        },
    }


# --- categories --------------------------------------------------------------------------


def test_categories_list_the_tree_flattened_with_parent_ids(client):
    home = make_category("Home")
    garden = make_category("Garden", parent=home)
    db.session.commit()

    response = client.get("/api/v1/categories")

    assert response.status_code == 200
    assert response.json["items"] == [
        {"id": home.id, "parent_id": None, "name": "Home", "slug": home.slug,
         "position": home.position},
        {"id": garden.id, "parent_id": home.id, "name": "Garden", "slug": garden.slug,
         "position": garden.position},
    ]
    assert response.json["meta"] == {"page": 1, "per_page": 20, "total": 2, "pages": 1}
    assert response.json["links"] == {
        "self": "/api/v1/categories?page=1&per_page=20", "next": None, "prev": None,
    }


def test_categories_are_ordered_by_position_then_name(client):
    db.session.add_all([
        Category(name="Zebra", slug="zebra", position=1),
        Category(name="Apple", slug="apple", position=1),
        Category(name="First", slug="first", position=0),
    ])
    db.session.commit()

    response = client.get("/api/v1/categories")

    assert [item["name"] for item in response.json["items"]] == ["First", "Apple", "Zebra"]


def test_categories_page_through_with_links_to_neighbours(client):
    categories = _categories(5)

    response = client.get("/api/v1/categories?page=2&per_page=2")

    assert response.status_code == 200
    assert [item["id"] for item in response.json["items"]] == [c.id for c in categories[2:4]]
    assert response.json["meta"] == {"page": 2, "per_page": 2, "total": 5, "pages": 3}
    assert response.json["links"] == {
        "self": "/api/v1/categories?page=2&per_page=2",
        "next": "/api/v1/categories?page=3&per_page=2",
        "prev": "/api/v1/categories?page=1&per_page=2",
    }


def test_a_page_past_the_end_is_empty_and_points_back_to_the_last_page(client):
    _categories(3)

    response = client.get("/api/v1/categories?page=9&per_page=2")

    assert response.status_code == 200
    assert response.json["items"] == []
    assert response.json["meta"] == {"page": 9, "per_page": 2, "total": 3, "pages": 2}
    assert response.json["links"]["next"] is None
    assert response.json["links"]["prev"] == "/api/v1/categories?page=2&per_page=2"


def test_a_huge_page_number_is_an_empty_page_not_a_database_error(client):
    _categories(1)

    response = client.get(f"/api/v1/categories?page={10**30}")

    assert response.status_code == 200
    assert response.json["items"] == []


def test_per_page_above_the_maximum_is_clamped_to_100(client):
    _categories(1)

    response = client.get("/api/v1/categories?per_page=1000")

    assert response.status_code == 200
    assert response.json["meta"]["per_page"] == 100


def test_a_non_numeric_page_is_a_422_naming_the_field(client):
    response = client.get("/api/v1/categories?page=abc")

    assert response.status_code == 422
    assert response.json["error"]["status"] == 422
    assert response.json["error"]["fields"] == {"page": ["Not a valid integer."]}


def test_zero_or_negative_paging_is_a_422_naming_each_field(client):
    response = client.get("/api/v1/categories?page=0&per_page=-5")

    assert response.status_code == 422
    assert response.json["error"]["fields"] == {
        "page": ["Must be 1 or more."],
        "per_page": ["Must be 1 or more."],
    }


def test_one_category_by_id(client):
    home = make_category("Home")
    db.session.commit()

    response = client.get(f"/api/v1/categories/{home.id}")

    assert response.status_code == 200
    assert response.json == {"id": home.id, "parent_id": None, "name": "Home",
                              "slug": home.slug, "position": home.position}


def test_an_unknown_category_is_a_json_404(client):
    response = client.get("/api/v1/categories/424242")

    assert response.status_code == 404
    assert response.json == {"error": {
        "status": 404, "title": "Page not found",
        "message": "There is no category with id 424242.",
    }}


# --- errors under /api/ are JSON ---------------------------------------------------------


def test_an_unknown_api_address_is_a_json_404_even_for_a_browser(client):
    response = client.get("/api/v1/nope", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json["error"]["status"] == 404


def test_a_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/api/v1/categories")

    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.json["error"]["status"] == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


# --- pagination helper -------------------------------------------------------------------


def test_paginate_counts_all_rows_and_returns_one_window(app):
    categories = _categories(5)
    stmt = select(Category).order_by(Category.id)

    page = paginate(stmt, page=3, per_page=2)

    assert page.items == [categories[4]]
    assert (page.total, page.pages, page.has_next, page.has_prev) == (5, 3, False, True)
    assert (page.next_num, page.prev_num) == (None, 2)


def test_paginate_of_several_columns_yields_rows(app):
    home = make_category("Home")
    db.session.commit()

    page = paginate(select(Category.id, Category.name).order_by(Category.id), 1, 10)

    assert [tuple(row) for row in page.items] == [(home.id, "Home")]


def test_an_empty_list_has_no_pages_and_no_neighbours():
    page = Page(items=[], total=0, page=1, per_page=20)

    assert (page.pages, page.has_next, page.has_prev, page.next_num, page.prev_num) == (
        0, False, False, None, None)


# --- OpenAPI -----------------------------------------------------------------------------


def test_openapi_document_describes_categories_with_their_schema(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] == "Marketplace API"
    listing = spec["paths"]["/api/v1/categories"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["page", "per_page"]
    page_schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page_schema["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Category"}
    assert listing["responses"]["422"] == {"$ref": "#/components/responses/ValidationFailed"}
    assert set(spec["components"]["schemas"]["Category"]["properties"]) == {
        "id", "parent_id", "name", "slug", "position"}
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {"error"}
    assert set(spec["components"]["schemas"]["PageMeta"]["properties"]) == {
        "page", "per_page", "total", "pages"}


def test_openapi_path_parameters_come_from_the_url_rule(client):
    spec = client.get("/api/v1/openapi.json").json

    item = spec["paths"]["/api/v1/categories/{category_id}"]

    assert item["parameters"] == [{"in": "path", "name": "category_id", "required": True,
                                   "schema": {"type": "integer"}}]


def test_every_api_get_route_is_in_the_openapi_document(app):
    spec = build_spec(app)
    api_routes = [rule for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/api/v1") and "GET" in (rule.methods or ())]

    missing = [rule.rule for rule in api_routes
               if "get" not in spec["paths"].get(openapi_path(rule.rule)[0], {})]

    assert api_routes
    assert missing == [], "document these views with marketplace.openapi.document"


def test_every_reference_in_the_openapi_document_resolves(app):
    spec = build_spec(app)
    refs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    dangling = []
    for ref in refs:
        _, section, kind, name = ref.split("/")
        if name not in spec.get(section, {}).get(kind, {}):
            dangling.append(ref)

    assert refs
    assert dangling == []


def test_openapi_path_converts_werkzeug_converters():
    assert openapi_path("/api/v1/x/<uuid:key>/<slug>") == (
        "/api/v1/x/{key}/{slug}",
        [{"in": "path", "name": "key", "required": True,
          "schema": {"type": "string", "format": "uuid"}},
         {"in": "path", "name": "slug", "required": True, "schema": {"type": "string"}}],
    )


HUGE = str(2**63)


@pytest.mark.parametrize("path", [
    f"/api/v1/categories/{HUGE}",
    f"/api/v1/catalog/products/{HUGE}",
    f"/api/v1/catalog/products?vendor={HUGE}",
    f"/api/v1/catalog/products?category={HUGE}",
    f"/p/{HUGE}-anything",
    f"/vendors/{HUGE}/logo",
    f"/search?q=chair&vendor={HUGE}",
])
def test_an_id_larger_than_any_row_is_a_clear_4xx_never_a_500(client, path):
    answer = client.get(path, headers={"Accept": "application/json"})

    assert answer.status_code in {404, 422}
