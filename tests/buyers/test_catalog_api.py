"""The catalog API: the category tree, listings with facets, product detail and search."""

from __future__ import annotations

from marketplace.openapi import build_spec


def test_categories_are_a_tree(client, shop):
    response = client.get("/api/v1/catalog/categories")

    assert response.status_code == 200
    assert response.json == {"items": [
        {"id": shop.home.id, "name": "Home & Living", "slug": shop.home.slug, "parent_id": None,
         "children": [
             {"id": shop.furniture.id, "name": "Furniture", "slug": shop.furniture.slug,
              "parent_id": shop.home.id, "children": []},
             {"id": shop.lighting.id, "name": "Lighting", "slug": shop.lighting.slug,
              "parent_id": shop.home.id, "children": []},
         ]},
        {"id": shop.books.id, "name": "Books", "slug": shop.books.slug, "parent_id": None,
         "children": []},
    ]}


def test_products_list_with_prices_facets_and_paging(client, shop):
    response = client.get(f"/api/v1/catalog/products?category={shop.home.id}&per_page=2"
                          "&currency=USD")

    body = response.json
    assert response.status_code == 200
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 4, "pages": 2, "currency": "USD"}
    assert body["links"] == {
        "self": f"/api/v1/catalog/products?category={shop.home.id}&per_page=2&currency=USD",
        "next": (f"/api/v1/catalog/products?category={shop.home.id}&per_page=2&currency=USD"
                 "&page=2"),
        "prev": None,
    }
    assert body["items"][0] == {
        "id": shop.lamp.id, "title": "Brass Table Lamp", "slug": shop.lamp.slug,
        "url": f"/p/{shop.lamp.id}-{shop.lamp.slug}",
        "vendor": {"id": shop.kumo.id, "name": "Kumo Store", "slug": shop.kumo.slug},
        "price": {"amount_minor": 8_000, "currency": "JPY"},
        "price_varies": False,
        "approximate_price": {"amount_minor": 5_500, "currency": "USD"},
        "compare_at_price": None, "approximate_compare_at_price": None,
        "in_stock": True, "rating": None, "rating_count": 0, "highlight": None,
    }
    facets = {facet["key"]: facet for facet in body["facets"]}
    assert [(v["label"], v["count"], v["value"]) for v in facets["vendor"]["values"]] == [
        ("Nordic Goods", 3, str(shop.nordic.id)), ("Kumo Store", 1, str(shop.kumo.id))]
    assert facets["vendor"]["parameter"] == "vendor"
    assert facets["attr:colour"]["parameter"] == "attr.colour"
    assert facets["price"]["values"][0] == {
        "value": "3", "label": "$50 – $100", "count": 2, "selected": False,
        "price_min": "50", "price_max": "100"}


def test_product_detail_has_variants_stock_categories_and_vendor(client, shop):
    response = client.get(f"/api/v1/catalog/products/{shop.chair.id}?currency=EUR")

    body = response.json
    assert response.status_code == 200
    assert body["categories"] == [
        {"id": shop.home.id, "name": "Home & Living", "slug": shop.home.slug},
        {"id": shop.furniture.id, "name": "Furniture", "slug": shop.furniture.slug}]
    assert body["price"] == {"amount_minor": 12_900, "currency": "EUR"}
    assert body["approximate_price"] is None
    assert body["options"] == {"colour": ["Oak", "Walnut"]}
    assert [(v["attributes"], v["price"]["amount_minor"], v["available"], v["in_stock"])
            for v in body["variants"]] == [({"colour": "Oak"}, 12_900, 5, True),
                                           ({"colour": "Walnut"}, 13_900, 0, False)]
    assert body["vendor"] == {"id": shop.nordic.id, "name": "Nordic Goods",
                              "slug": shop.nordic.slug, "country": "DE", "ships_from": ["DE"],
                              "rating": None, "rating_count": 0,
                              "url": f"/v/{shop.nordic.slug}"}


def test_search_answers_with_corrections_highlights_and_facets(client, shop):
    response = client.get("/api/v1/catalog/search?q=walnutt")

    body = response.json
    assert response.status_code == 200
    assert (body["query"], body["corrected_text"], body["suggestion"]) == (
        "walnutt", "walnut", None)
    assert [item["title"] for item in body["items"]] == ["Walnut Side Table", "Oak Chair"]
    assert body["items"][0]["highlight"] == "<mark>Walnut</mark> Side Table"
    assert {facet["key"] for facet in body["facets"]} >= {"category", "vendor", "price"}


def test_an_unknown_product_is_a_json_404(client, shop):
    response = client.get("/api/v1/catalog/products/987654")

    assert response.status_code == 404
    assert response.json == {"error": {"status": 404, "title": "Page not found",
                                       "message": "There is no product with id 987654."}}


def test_bad_parameters_are_a_422_naming_each_field(client, shop):
    response = client.get("/api/v1/catalog/products?page=0&sort=cheapest&rating=9"
                          "&price_min=abc&currency=XXX")

    assert response.status_code == 422
    assert response.json["error"]["fields"] == {
        "page": ["Must be 1 or more."],
        "sort": ["Must be one of: relevance, price_asc, price_desc, newest, rating."],
        "rating": ["Must be greater than or equal to 1 and less than or equal to 5."],
        "price_min": ["Not a valid number."],
    }


def test_an_unknown_currency_is_a_422(client, shop):
    response = client.get("/api/v1/catalog/products?currency=XXX")

    assert response.status_code == 422
    assert response.json["error"]["fields"] == {
        "currency": ["Must be one of: EUR, USD, GBP, JPY."]}


def test_search_needs_its_words(client, shop):
    response = client.get("/api/v1/catalog/search")

    assert response.status_code == 422
    assert response.json["error"]["fields"] == {"q": ["Missing data for required field."]}


def test_per_page_is_clamped_to_100_in_the_api(client, shop):
    response = client.get("/api/v1/catalog/products?per_page=5000")

    assert response.status_code == 200
    assert response.json["meta"]["per_page"] == 100


def test_the_catalog_endpoints_are_in_the_openapi_document(app):
    paths = build_spec(app)["paths"]

    assert {"/api/v1/catalog/categories", "/api/v1/catalog/products",
            "/api/v1/catalog/products/{product_id}", "/api/v1/catalog/search"} <= set(paths)
    names = [p["name"] for p in paths["/api/v1/catalog/products"]["get"]["parameters"]]
    assert {"q", "category", "vendor", "price_min", "price_max", "rating", "in_stock", "sort",
            "page", "per_page", "currency"} <= set(names)
