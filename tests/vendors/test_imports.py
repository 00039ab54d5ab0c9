"""Catalog CSV import and export: jobs, the error report, "import valid rows", round trips."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import OutboxJob
from tests.factories import make_category, make_vendor
from tests.vendors.factories import (
    make_location,
    make_member,
    make_person,
    make_token,
    make_variant,
    set_stock,
)
from tests.vendors.pages import log_in, text
from vendors.import_models import CatalogTransfer, TransferStatus
from vendors.models import (
    MemberRole,
    MovementReason,
    Product,
    ProductStatus,
    StockLevel,
    StockMovement,
    Variant,
)

HEADER = ("product_handle,title,category,description,sku,price,attr:size,"
          "stock:Berlin,stock:Hamburg\n")


@pytest.fixture
def shop(app):
    owner = make_person("olga@example.com", name="Olga")
    vendor = make_vendor("Olga's Linen", owner=owner)
    berlin = make_location(vendor, "Berlin")
    hamburg = make_location(vendor, "Hamburg", priority=1)
    category = make_category("Shirts")
    category.slug = "shirts"
    _token, secret = make_token(vendor, scopes=("catalog:import",))
    db.session.commit()
    return {"owner": owner, "vendor": vendor, "berlin": berlin, "hamburg": hamburg,
            "secret": secret}


def _upload(client, post_form, body: str | bytes, name: str = "catalog.csv"):
    data = body.encode() if isinstance(body, str) else body
    return post_form("/vendor/imports", {"file": (io.BytesIO(data), name)},
                     content_type="multipart/form-data")


def _api(shop) -> dict:
    return {"Authorization": f"Bearer {shop['secret']}"}


def _transfer() -> CatalogTransfer:
    return db.session.scalars(select(CatalogTransfer).order_by(CatalogTransfer.id.desc())).first()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_uploaded_file_is_imported_by_the_job_as_draft_products_with_stock(
        client, post_form, shop):
    log_in(client, shop["owner"])
    body = HEADER + ("linen-shirt,Linen Shirt,shirts,Soft & light,LS-S,12.50,S,4,0\n"
                     "linen-shirt,,,,LS-M,12.5,M,,7\n")

    answer = _upload(client, post_form, body)
    queued = client.get(answer.headers["Location"])
    run_queued_jobs()
    done = client.get(answer.headers["Location"]).get_data(as_text=True)

    assert answer.status_code == 303
    assert "waiting to start" in queued.get_data(as_text=True)
    assert queued.headers["Refresh"] == "2"
    assert "Imported: 2 new variant(s), 0 changed, 0 unchanged, 0 row(s) with errors left " \
           "out." in text(done)
    product = db.session.scalars(select(Product)).one()
    assert (product.slug, product.title, product.description, product.status) == (
        "linen-shirt", "Linen Shirt", "Soft & light", ProductStatus.DRAFT)
    assert [(v.sku, v.price_minor, v.currency, v.attributes) for v in product.variants] == [
        ("LS-S", 1250, "EUR", {"size": "S"}), ("LS-M", 1250, "EUR", {"size": "M"})]
    levels = db.session.execute(select(Variant.sku, StockLevel.location_id, StockLevel.on_hand)
                                .join(Variant).order_by(Variant.sku, StockLevel.location_id))
    assert [tuple(r) for r in levels] == [("LS-M", shop["hamburg"].id, 7),
                                          ("LS-S", shop["berlin"].id, 4),
                                          ("LS-S", shop["hamburg"].id, 0)]
    movements = db.session.scalars(select(StockMovement).order_by(StockMovement.id)).all()
    transfer_id = _transfer().id
    assert [(m.delta, m.on_hand_after, m.reason, m.note, m.user_id) for m in movements] == [
        (4, 4, MovementReason.COUNT_CORRECTION, f"CSV import #{transfer_id}", shop["owner"].id),
        (7, 7, MovementReason.COUNT_CORRECTION, f"CSV import #{transfer_id}", shop["owner"].id)]


def test_a_file_with_errors_commits_nothing_and_reports_each_line_and_column(
        client, post_form, shop):
    log_in(client, shop["owner"])
    body = HEADER + ("shirt,Shirt,shirts,,SH-1,9.99,S,1,1\n"
                     "shirt,,,,SH-2,9.999,M,1,1\n"
                     "mug,Mug,kitchen,,MUG-1,5,,2,\n"
                     "shirt,,,,SH-1,9.99,L,abc,1\n"
                     "cap,Cap,shirts,,CAP-1,10,,1,1\n")

    _upload(client, post_form, body)
    run_queued_jobs()

    transfer = _transfer()
    assert transfer.status == TransferStatus.NEEDS_CONFIRMATION
    assert [(e["line"], e["column"]) for e in transfer.errors] == [
        (2, "sku"), (3, "price"), (4, "category"), (5, "stock:Berlin")]
    assert transfer.errors[1]["message"] == "EUR amounts have at most 2 decimal places."
    assert transfer.errors[2]["message"] == ('There is no category "kitchen"; use a '
                                             "category's slug from the category list.")
    assert transfer.errors[0]["message"] == ('The SKU "SH-1" is also on line(s) 5; each SKU '
                                             "may appear once.")
    assert (transfer.total_rows, transfer.valid_rows, transfer.skipped_count) == (5, 1, 4)
    assert (_count(Product), _count(Variant), _count(StockMovement)) == (0, 0, 0)
    page = text(client.get(f"/vendor/imports/{transfer.id}").get_data(as_text=True))
    assert "Nothing was imported: 4 row(s) have errors (listed below). 1 row(s) are valid." \
           in page
    assert "3 price EUR amounts have at most 2 decimal places." in page


def test_import_valid_rows_imports_only_the_rows_without_errors(client, post_form, shop):
    log_in(client, shop["owner"])
    body = HEADER + ("shirt,Shirt,shirts,,SH-1,9.99,S,1,2\n"
                     "shirt,,,,SH-2,-4,M,1,1\n"
                     "shirt,,,,SH-3,10,L,3,\n")
    _upload(client, post_form, body)
    run_queued_jobs()
    transfer = _transfer()

    answer = post_form(f"/vendor/imports/{transfer.id}/confirm")
    run_queued_jobs()

    db.session.refresh(transfer)
    assert answer.status_code == 303
    assert (transfer.status, transfer.created_count, transfer.skipped_count) == (
        TransferStatus.DONE, 2, 1)
    assert db.session.scalars(select(Variant.sku).order_by(Variant.sku)).all() == [
        "SH-1", "SH-3"]
    assert [(e["line"], e["column"]) for e in transfer.errors] == [(3, "price")]


def test_a_latin1_file_is_refused_naming_the_line(client, post_form, shop):
    log_in(client, shop["owner"])
    body = (HEADER + "shirt,Chemise brodée,shirts,,SH-1,9.99,S,1,1\n").encode("latin-1")

    _upload(client, post_form, body)
    run_queued_jobs()

    transfer = _transfer()
    assert transfer.status == TransferStatus.FAILED
    assert transfer.errors == [{"line": None, "column": "file", "message": (
        "The file isn't UTF-8 text: line 2 has a byte (0xE9) that UTF-8 doesn't allow; the "
        "file was probably saved as Latin-1 or Windows-1252. Save it as \"CSV UTF-8\" and "
        "upload it again.")}]
    assert _count(Product) == 0


def test_a_utf8_file_with_a_byte_order_mark_is_read(client, post_form, shop):
    log_in(client, shop["owner"])
    body = "\ufeff" + HEADER + "shirt,Chemise brodée,shirts,,SH-1,9.99,S,1,1\n"

    _upload(client, post_form, body.encode("utf-8"))
    run_queued_jobs()

    assert _transfer().status == TransferStatus.DONE
    assert db.session.scalars(select(Product.title)).one() == "Chemise brodée"


@pytest.mark.parametrize(("header", "message"), [
    ("handle,sku,price\n", 'Unknown column "handle". The columns are: product_handle, title, '
     "category, description, sku, price, currency, compare_at_price, weight_grams, "
     'low_stock_threshold, plus "attr:<name>", "stock:<location>" and "title:<language>"/'
     '"description:<language>".'),
    ("product_handle,price\n", 'The required column "sku" is missing from the header row.'),
    ("sku,stock:Paris\n", 'The column "stock:Paris": you have no stock location named '
     '"Paris". Add it under Locations first, or fix the name.'),
    ("sku,price,Price\n", 'The column "Price" appears twice.'),
])
def test_a_wrong_header_is_refused_naming_the_column(client, post_form, shop, header,
                                                     message):
    log_in(client, shop["owner"])

    _upload(client, post_form, header + "X-1,1\n")
    run_queued_jobs()

    transfer = _transfer()
    assert transfer.status == TransferStatus.FAILED
    assert transfer.errors == [{"line": None, "column": "file", "message": message}]


def test_an_oversized_upload_is_a_413_before_it_is_read(app, client, post_form, shop):
    log_in(client, shop["owner"])
    saved = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    try:
        portal = _upload(client, post_form, "sku\n" + "X\n" * 10_000)
        api = client.post("/api/v1/vendor/imports", data="sku\n" + "X\n" * 10_000,
                          content_type="text/csv", headers=_api(shop))
    finally:
        app.config["MAX_CONTENT_LENGTH"] = saved
    message = ("The file is larger than 20 MB. Split it into smaller files and import them "
               "one after the other.")

    assert portal.status_code == 413
    assert message in portal.get_data(as_text=True)
    assert api.status_code == 413
    assert api.json["error"]["message"] == message
    assert _count(CatalogTransfer) == 0


def test_a_file_over_the_import_limit_is_a_413_naming_the_limit(client, shop, monkeypatch):
    monkeypatch.setattr("vendors.imports.MAX_FILE_BYTES", 100)
    monkeypatch.setattr("vendors.import_jobs.MAX_FILE_BYTES", 100)
    monkeypatch.setattr("vendors.import_api.MAX_FILE_BYTES", 100)

    answer = client.post("/api/v1/vendor/imports", data="sku\n" + "X-1\n" * 50,
                         content_type="text/csv", headers=_api(shop))

    assert answer.status_code == 413
    assert answer.json["error"]["fields"] == {"file": [
        "The file is larger than 0 MB. Split it into smaller files and import them one "
        "after the other."]}
    assert _count(CatalogTransfer) == 0


def test_an_export_imports_back_without_changing_anything(client, post_form, shop):
    vendor = shop["vendor"]
    variant = make_variant(vendor, sku="OLD-1", price_minor=1999, status=ProductStatus.APPROVED)
    variant.compare_at_minor = 2999
    variant.weight_grams = 250
    set_stock(variant, shop["berlin"], on_hand=5)
    db.session.commit()
    log_in(client, shop["owner"])
    post_form("/vendor/exports")
    run_queued_jobs()
    export = _transfer()
    exported = client.get(f"/vendor/exports/{export.id}/download")
    movements_before = _count(StockMovement)

    _upload(client, post_form, exported.data, name="catalog.csv")
    run_queued_jobs()

    transfer = _transfer()
    lines = exported.data.decode("utf-8-sig").splitlines()
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert lines[0] == ("product_handle,title,category,description,sku,price,currency,"
                        "compare_at_price,weight_grams,low_stock_threshold,attr:size,"
                        "stock:Berlin,stock:Hamburg")
    assert lines[1].endswith(",OLD-1,19.99,EUR,29.99,250,,M,5,")
    assert (transfer.status, transfer.created_count, transfer.updated_count,
            transfer.valid_rows) == (TransferStatus.DONE, 0, 0, 1)
    assert _count(StockMovement) == movements_before


def test_a_live_product_takes_price_and_stock_but_not_a_new_title(client, shop):
    variant = make_variant(shop["vendor"], sku="LIVE-1", price_minor=1000,
                           status=ProductStatus.APPROVED)
    handle = variant.product.slug
    db.session.commit()
    body = ("product_handle,title,sku,price,stock:Berlin\n"
            f"{handle},Linen Shirt,LIVE-1,11.00,6\n"
            f"{handle},A New Name,LIVE-1b,11.00,6\n")

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    transfer = _transfer()
    assert [(e["line"], e["column"], e["message"]) for e in transfer.errors] == [
        (3, "sku", f'The product "{handle}" is live: an import changes only the price, '
                   "compare-at price, low-stock threshold and stock of its variants. Change "
                   '"sku" in the product editor (the edit goes to review).')]
    assert transfer.status == TransferStatus.NEEDS_CONFIRMATION
    assert db.session.get(Variant, variant.id).price_minor == 1000


def test_the_api_queues_reports_progress_and_imports_like_the_portal(client, shop):
    body = HEADER + "shirt,Shirt,shirts,,SH-1,9.99,S,1,2\n"

    created = client.post("/api/v1/vendor/imports?filename=shirts.csv", data=body,
                          content_type="text/csv", headers=_api(shop))
    queued = client.get(f"/api/v1/vendor/imports/{created.json['id']}", headers=_api(shop))
    run_queued_jobs()
    done = client.get(f"/api/v1/vendor/imports/{created.json['id']}", headers=_api(shop))

    assert created.status_code == 202
    assert (queued.json["status"], queued.json["filename"], queued.json["percent"]) == (
        "queued", "shirts.csv", None)
    assert {k: done.json[k] for k in ("status", "total_rows", "processed_rows", "percent",
                                      "created_count", "updated_count", "errors")} == {
        "status": "done", "total_rows": 1, "processed_rows": 1, "percent": 100,
        "created_count": 1, "updated_count": 0, "errors": []}


def test_the_api_reports_row_errors_and_imports_valid_rows_on_confirm(client, shop):
    body = HEADER + "shirt,Shirt,shirts,,SH-1,9.99,S,1,2\nshirt,,,,SH-2,1,M,9999999,\n"
    created = client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                          headers=_api(shop))
    run_queued_jobs()
    report = client.get(f"/api/v1/vendor/imports/{created.json['id']}", headers=_api(shop))

    confirmed = client.post(f"/api/v1/vendor/imports/{created.json['id']}/confirm",
                            headers=_api(shop))
    run_queued_jobs()
    again = client.post(f"/api/v1/vendor/imports/{created.json['id']}/confirm",
                        headers=_api(shop))

    assert report.json["status"] == "needs_confirmation"
    assert report.json["errors"] == [{"line": 3, "column": "stock:Berlin", "message": (
        "Enter the units on hand as a whole number from 0 to 1,000,000.")}]
    assert confirmed.status_code == 202
    assert again.status_code == 409
    assert db.session.scalars(select(Variant.sku)).all() == ["SH-1"]


def test_an_export_is_downloadable_through_the_api(client, shop):
    make_variant(shop["vendor"], sku="API-1", price_minor=500)
    db.session.commit()

    created = client.post("/api/v1/vendor/exports", headers=_api(shop))
    early = client.get(f"/api/v1/vendor/exports/{created.json['id']}/file", headers=_api(shop))
    run_queued_jobs()
    export = client.get(f"/api/v1/vendor/exports/{created.json['id']}", headers=_api(shop))
    file = client.get(export.json["file_url"], headers=_api(shop))

    assert (created.status_code, early.status_code) == (202, 409)
    assert export.json["status"] == "done" and export.json["total_rows"] == 1
    assert ",API-1,5.00,EUR," in file.data.decode("utf-8-sig")


def test_staff_can_neither_import_nor_export(client, post_form, shop):
    staff = make_member(shop["vendor"], MemberRole.STAFF)
    db.session.commit()
    log_in(client, staff)

    page = client.get("/vendor/catalog-files")
    upload = _upload(client, post_form, HEADER)
    export = post_form("/vendor/exports")

    assert (page.status_code, upload.status_code, export.status_code) == (403, 403, 403)
    assert "Only owners and managers can import catalog files." in page.get_data(as_text=True)
    assert _count(CatalogTransfer) == 0


def test_a_vendor_sees_only_its_own_imports(client, post_form, shop):
    other_owner = make_person("bob@example.com")
    other = make_vendor("Bob's Bikes", owner=other_owner)
    _token, other_secret = make_token(other, scopes=("catalog:import",))
    db.session.commit()
    log_in(client, shop["owner"])
    uploaded = _upload(client, post_form, HEADER + "shirt,Shirt,shirts,,SH-1,9.99,S,1,2\n",
                       name="olga-secret.csv")
    client.get(uploaded.headers["Location"])  # shows (and so clears) the upload's flash
    log_in(client, other_owner)

    page = client.get("/vendor/catalog-files").get_data(as_text=True)
    theirs = client.get("/api/v1/vendor/imports",
                        headers={"Authorization": f"Bearer {other_secret}"})
    mine = client.get("/api/v1/vendor/imports", headers=_api(shop))

    assert "olga-secret.csv" not in page
    assert "No imports or exports yet." in page
    assert theirs.json["items"] == []
    assert [item["filename"] for item in mine.json["items"]] == ["olga-secret.csv"]


def test_a_live_products_price_compare_at_and_stock_change_with_a_movement(client, shop):
    variant = make_variant(shop["vendor"], sku="LIVE-1", price_minor=1000,
                           status=ProductStatus.APPROVED)
    set_stock(variant, shop["berlin"], on_hand=10, reserved=2)
    db.session.commit()
    body = "sku,price,compare_at_price,stock:Berlin\nLIVE-1,8.00,10.00,3\n"

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    variant = db.session.get(Variant, variant.id)
    movement = db.session.scalars(select(StockMovement)).one()
    assert (_transfer().status, _transfer().updated_count) == (TransferStatus.DONE, 1)
    assert (variant.price_minor, variant.compare_at_minor, variant.product.status) == (
        800, 1000, ProductStatus.APPROVED)
    assert (movement.delta, movement.on_hand_after, movement.token_id) == (
        -7, 3, _transfer().token_id)
    # One reindex job for every changed product of the file, not one per row.
    assert db.session.scalars(select(OutboxJob.args).where(
        OutboxJob.func == "vendors.search.reindex_products")).all() == [[[variant.product_id]]]


def test_a_count_below_the_reserved_units_is_a_row_error(client, shop):
    variant = make_variant(shop["vendor"], sku="RES-1")
    set_stock(variant, shop["berlin"], on_hand=10, reserved=4)
    db.session.commit()

    client.post("/api/v1/vendor/imports", data="sku,stock:Berlin\nRES-1,3\n",
                content_type="text/csv", headers=_api(shop))
    run_queued_jobs()

    assert _transfer().errors == [{"line": 2, "column": "stock:Berlin", "message": (
        "4 units here are reserved for orders, so the count can't be lower than that.")}]
    assert _transfer().status == TransferStatus.FAILED
    assert db.session.scalars(select(StockLevel.on_hand)).one() == 10


def test_prices_convert_exactly_with_the_currencys_decimals(client, shop):
    body = ("product_handle,title,category,sku,price,currency,compare_at_price,weight_grams\n"
            "tea,Tea,shirts,TEA-EUR,0.10,EUR,19.99,250\n"
            "tea,,,TEA-CENTS,12.5,,,\n"
            "tea,,,TEA-HUGE,1000000.01,,,\n"
            "tea,,,TEA-COMMA,\"12,50\",,,\n"
            "tea,,,TEA-FINE,0.105,,,\n")

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    assert [(e["line"], e["column"], e["message"]) for e in _transfer().errors] == [
        (4, "price", "Enter at most 1000000.00."),
        (5, "price", "Write an amount like 12.50: digits and a dot, without a currency sign "
                     "or thousands separator."),
        (6, "price", "EUR amounts have at most 2 decimal places.")]
    client.post(f"/api/v1/vendor/imports/{_transfer().id}/confirm", headers=_api(shop))
    run_queued_jobs()
    assert [tuple(r) for r in db.session.execute(
        select(Variant.sku, Variant.price_minor, Variant.currency, Variant.compare_at_minor,
               Variant.weight_grams).order_by(Variant.sku))] == [
        ("TEA-CENTS", 1250, "EUR", None, None), ("TEA-EUR", 10, "EUR", 1999, 250)]


def test_a_currency_other_than_the_shops_is_a_row_error_naming_the_column(client, shop):
    body = ("product_handle,title,category,sku,price,currency\n"
            "tea,Tea,shirts,TEA-EUR,1.00,EUR\n"
            "tea,,,TEA-JPY,1200,JPY\n"
            "tea,,,TEA-XXX,1.00,XXX\n")

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    refused = "Your shop sells in EUR: leave \"currency\" empty or write EUR."
    assert [(e["line"], e["column"], e["message"]) for e in _transfer().errors] == [
        (3, "currency", refused), (4, "currency", refused)]
    client.post(f"/api/v1/vendor/imports/{_transfer().id}/confirm", headers=_api(shop))
    run_queued_jobs()
    assert [tuple(r) for r in db.session.execute(
        select(Variant.sku, Variant.currency))] == [("TEA-EUR", "EUR")]


def test_a_known_sku_stays_in_its_product_and_a_new_one_needs_a_handle(client, shop):
    make_variant(shop["vendor"], sku="KEEP-1", status=ProductStatus.DRAFT)
    db.session.commit()
    body = ("product_handle,title,category,sku,price\n"
            "other-product,Other,shirts,KEEP-1,5\n"
            ",,,NEW-1,5\n"
            "Bad Handle!,Bad,shirts,NEW-2,5\n")

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    handle = db.session.scalars(select(Product.slug)).one()
    assert [(e["line"], e["column"], e["message"]) for e in _transfer().errors] == [
        (2, "product_handle", f'The SKU "KEEP-1" belongs to the product "{handle}"; an '
                              "import can't move a variant to another product."),
        (3, "product_handle", '"NEW-1" is a new SKU: give the handle of its product.'),
        (4, "product_handle", "Use lowercase letters, digits and single hyphens for a new "
                              'product\'s handle (like "linen-shirt").')]
    assert _transfer().status == TransferStatus.FAILED


def test_rows_of_one_product_must_agree_on_its_title(client, shop):
    body = ("product_handle,title,category,sku,price\n"
            "cap,Cap,shirts,CAP-1,5\n"
            "cap,Hat,shirts,CAP-2,5\n")

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    assert _transfer().errors == [{"line": 3, "column": "title", "message": (
        'This differs from line 2 for the same product "cap": give it once, or the same on '
        "every line.")}]


def test_translations_and_descriptions_import_and_export_back(client, post_form, shop):
    body = ("product_handle,title,category,description,title:de,description:de,sku,price\n"
            "cup,Cup,shirts,<p>Fine <script>x()</script><strong>china</strong></p>,Tasse,"
            "Feines Porzellan,CUP-1,4.50\n")
    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    export = client.post("/api/v1/vendor/exports", headers=_api(shop))
    run_queued_jobs()
    file = client.get(f"/api/v1/vendor/exports/{export.json['id']}/file", headers=_api(shop))

    product = db.session.scalars(select(Product)).one()
    assert product.description == "<p>Fine <strong>china</strong></p>"
    assert [(t.locale, t.title, t.description) for t in product.translations] == [
        ("de", "Tasse", "Feines Porzellan")]
    assert file.data.decode("utf-8-sig").splitlines() == [
        "product_handle,title,category,description,title:de,description:de,sku,price,"
        "currency,compare_at_price,weight_grams,low_stock_threshold,stock:Berlin,"
        "stock:Hamburg",
        "cup,Cup,shirts,<p>Fine <strong>china</strong></p>,Tasse,Feines Porzellan,CUP-1,"
        "4.50,EUR,,,,,"]


def test_the_progress_of_a_running_import_shows_on_its_page_and_in_the_api(app, client,
                                                                          shop):
    from marketplace.kv import get_redis

    log_in(client, shop["owner"])
    transfer = CatalogTransfer(vendor_id=shop["vendor"].id, kind="import",
                               status=TransferStatus.IMPORTING, filename="big.csv",
                               total_rows=10_000, errors=[])
    db.session.add(transfer)
    db.session.commit()
    get_redis(app).set(f"catalog-transfer-progress:{transfer.id}", 2_500)

    page = client.get(f"/vendor/imports/{transfer.id}")
    api = client.get(f"/api/v1/vendor/imports/{transfer.id}", headers=_api(shop))

    html = page.get_data(as_text=True)
    assert page.headers["Refresh"] == "2"
    assert '<progress class="transfer-bar" max="100" value="25"' in html
    assert "importing 2,500 of 10,000 rows" in text(html)
    assert (api.json["status"], api.json["processed_rows"], api.json["percent"]) == (
        "importing", 2_500, 25)


def test_a_draft_product_is_updated_and_takes_new_variants(client, shop):
    variant = make_variant(shop["vendor"], sku="DRAFT-1", title="Old name",
                           status=ProductStatus.DRAFT)
    product = variant.product
    product.option_types = [{"name": "size", "values": ["M"]}]
    db.session.commit()
    body = ("product_handle,title,category,sku,price,attr:size\n"
            f"{product.slug},New  name,shirts,DRAFT-1,49.00,M\n"
            f"{product.slug},,,DRAFT-2,51.00,L\n")

    client.post("/api/v1/vendor/imports", data=body, content_type="text/csv",
                headers=_api(shop))
    run_queued_jobs()

    product = db.session.get(Product, product.id)
    assert (_transfer().status, _transfer().created_count, _transfer().updated_count) == (
        TransferStatus.DONE, 1, 1)
    assert (product.title, product.category.slug, product.status, product.option_types) == (
        "New name", "shirts", ProductStatus.DRAFT, None)
    assert [(v.sku, v.price_minor, v.attributes) for v in product.variants] == [
        ("DRAFT-1", 4900, {"size": "M"}), ("DRAFT-2", 5100, {"size": "L"})]
