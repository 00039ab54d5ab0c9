"""Review: draft -> submitted -> approved/rejected -> archived, and edits of live products
that wait as revisions while the approved version stays on sale."""

from __future__ import annotations

import re

from sqlalchemy import event, func, select

from marketplace.extensions import db
from marketplace.models import OutboxJob
from tests.vendors.catalog_factories import make_admin, make_shop, png_bytes, shirt_data
from tests.vendors.pages import flashes, log_in, text
from vendors import catalog, images, moderation
from vendors.models import Product, ProductRevision, ProductStatus, RevisionStatus
from vendors.search import documents_for


def _live_shirt():
    vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    catalog.submit_product(actor, product.id)
    moderation.approve_product(product.id)
    db.session.commit()
    return vendor, owner, actor, product


def _approve(client, post_form, action: str):
    """Approve from the review queue, as the moderator's browser does: the form carries the
    stamp of the version shown."""
    page = client.get("/admin/moderation").get_data(as_text=True)
    stamp = re.search(rf'action="{re.escape(action)}">\s*<input[^>]*>\s*'
                      r'<input type="hidden" name="stamp" value="(\w+)">', page)
    return post_form(action, {"stamp": stamp.group(1)})


def _jobs() -> list[tuple[str, list]]:
    return [(job.func, job.args) for job in db.session.scalars(
        select(OutboxJob).order_by(OutboxJob.id))]


def test_a_draft_goes_live_through_review(client, post_form):
    _vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    admin = make_admin()
    db.session.commit()
    log_in(client, owner)

    submitted = post_form(f"/vendor/products/{product.id}/submit")
    log_in(client, admin)
    queue = client.get("/admin/moderation").get_data(as_text=True)
    approved = _approve(client, post_form, f"/admin/moderation/products/{product.id}/approve")

    assert submitted.status_code == 303
    assert f'data-product="{product.id}"' in queue and "Linen Shirt" in queue
    assert approved.status_code == 303
    assert product.status == ProductStatus.APPROVED
    assert ("vendors.search.reindex_products", [[product.id]]) in _jobs()
    page = client.get(f"/p/{product.id}-{product.slug}").get_data(as_text=True)
    assert "<p>Soft <strong>linen</strong>.</p>" in page


def test_a_rejected_product_shows_the_reason_to_its_vendor(client, post_form):
    _vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    catalog.submit_product(actor, product.id)
    admin = make_admin()
    db.session.commit()
    log_in(client, admin)

    post_form(f"/admin/moderation/products/{product.id}/reject",
              {"reason": "Show the shirt itself, not a logo."})
    log_in(client, owner)
    page = client.get(f"/vendor/products/{product.id}").get_data(as_text=True)

    assert product.status == ProductStatus.REJECTED
    assert "Show the shirt itself, not a logo." in text(page)
    assert "Send for review" in page


def test_a_rejection_needs_a_reason(client, post_form):
    _vendor, _owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    catalog.submit_product(actor, product.id)
    admin = make_admin()
    db.session.commit()
    log_in(client, admin)

    answer = post_form(f"/admin/moderation/products/{product.id}/reject", {"reason": "  "})

    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "Tell the vendor what to change."]
    assert product.status == ProductStatus.SUBMITTED


def test_only_admins_see_the_review_queue(client):
    _vendor, owner, _actor, _category = make_shop()
    db.session.commit()
    log_in(client, owner)

    assert client.get("/admin/moderation").status_code == 403


def test_editing_a_live_product_keeps_it_on_sale_unchanged_until_the_edit_is_approved(
        client, post_form):
    _vendor, owner, actor, product = _live_shirt()
    admin = make_admin()
    db.session.commit()

    revision = catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Linen Shirt, relaxed fit", "description": "<p>New.</p>"}},
        "variants": [{"sku": "SHIRT-S", "price_minor": 3_900, "compare_at_minor": 4_900,
                      "weight_grams": 200, "options": {"size": "S"}}]})
    db.session.commit()
    storefront = client.get(f"/p/{product.id}-{product.slug}").get_data(as_text=True)
    before = documents_for([product.id])[0]

    assert isinstance(revision, ProductRevision) and revision.status == RevisionStatus.PENDING
    assert (product.status, product.title, product.variants[0].price_minor) == (
        ProductStatus.APPROVED, "Linen Shirt", 4_900)
    assert "Linen Shirt" in storefront and "relaxed fit" not in storefront
    assert before.texts["en"][0] == "Linen Shirt" and before.price_minor == 4_900

    log_in(client, admin)
    _approve(client, post_form, f"/admin/moderation/revisions/{revision.id}/approve")
    after = documents_for([product.id])[0]

    assert (product.title, product.variants[0].price_minor,
            product.variants[0].compare_at_minor) == ("Linen Shirt, relaxed fit", 3_900, 4_900)
    assert revision.status == RevisionStatus.APPROVED
    assert after.texts["en"][0] == "Linen Shirt, relaxed fit" and after.price_minor == 3_900
    assert _jobs()[-1] == ("vendors.search.reindex_products", [[product.id]])


def test_a_second_edit_replaces_the_pending_one_and_the_form_shows_it(client):
    _vendor, owner, actor, product = _live_shirt()
    catalog.update_product(actor, product.id, {"attributes": {"fit": "slim"}})
    catalog.update_product(actor, product.id, {"texts": {"de": {"title": "Leinenhemd",
                                                                 "description": ""}}})
    db.session.commit()
    log_in(client, owner)

    page = client.get(f"/vendor/products/{product.id}").get_data(as_text=True)

    revisions = db.session.scalars(select(ProductRevision)).all()
    assert len(revisions) == 1
    assert revisions[0].data["attributes"] == {"fit": "slim"}
    assert revisions[0].data["texts"]["de"]["title"] == "Leinenhemd"
    assert "Your latest changes wait for review." in text(page)
    assert 'value="Leinenhemd"' in page and "fit: slim" in page


def test_a_rejected_edit_leaves_the_live_version_and_tells_the_vendor_why(client, post_form):
    _vendor, owner, actor, product = _live_shirt()
    revision = catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "BEST SHIRT EVER!!!", "description": ""}}})
    admin = make_admin()
    db.session.commit()
    log_in(client, admin)

    post_form(f"/admin/moderation/revisions/{revision.id}/reject",
              {"reason": "No shouting in titles, please."})
    log_in(client, owner)
    page = client.get(f"/vendor/products/{product.id}").get_data(as_text=True)

    assert (product.title, product.status, revision.status) == (
        "Linen Shirt", ProductStatus.APPROVED, RevisionStatus.REJECTED)
    assert "No shouting in titles, please." in text(page)


def test_search_documents_carry_the_translations_and_product_attributes(app):
    _vendor, _owner, actor, product = _live_shirt()
    revision = catalog.update_product(actor, product.id, {
        "texts": {"de": {"title": "Leinenhemd", "description": "<p>Weich &amp; leicht</p>"}}})
    moderation.approve_revision(revision.id, None)
    db.session.commit()

    document = documents_for([product.id])[0]

    assert document.texts == {"en": ("Linen Shirt", "Soft linen."),
                              "de": ("Leinenhemd", "Weich & leicht")}
    assert document.attributes == {"material": ("linen",), "size": ("M", "S")}


def test_archiving_a_live_product_takes_it_off_the_storefront(client, post_form):
    _vendor, owner, _actor, product = _live_shirt()
    db.session.commit()
    log_in(client, owner)

    post_form(f"/vendor/products/{product.id}/archive")

    assert product.status == ProductStatus.ARCHIVED
    assert _jobs()[-1] == ("vendors.search.reindex_products", [[product.id]])
    assert client.get(f"/p/{product.id}-{product.slug}").status_code == 404


def _stamp_on(page: str, action: str) -> str:
    return re.search(rf'action="{re.escape(action)}">\s*<input[^>]*>\s*'
                     r'<input type="hidden" name="stamp" value="(\w+)">', page).group(1)


def test_an_edit_changed_after_the_moderator_opened_it_is_not_approved(client, post_form):
    _vendor, _owner, actor, product = _live_shirt()
    revision = catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Linen Shirt, relaxed", "description": ""}}})
    admin = make_admin()
    db.session.commit()
    log_in(client, admin)
    action = f"/admin/moderation/revisions/{revision.id}/approve"
    seen = _stamp_on(client.get("/admin/moderation").get_data(as_text=True), action)

    catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Totally different product", "description": ""}}})
    db.session.commit()
    answer = post_form(action, {"stamp": seen})

    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "This listing changed since you opened it; review it again."]
    assert (product.title, revision.status) == ("Linen Shirt", RevisionStatus.PENDING)


def test_a_product_resubmitted_after_the_moderator_opened_it_is_not_approved(
        client, post_form):
    _vendor, _owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    catalog.submit_product(actor, product.id)
    admin = make_admin()
    db.session.commit()
    log_in(client, admin)
    action = f"/admin/moderation/products/{product.id}/approve"
    seen = _stamp_on(client.get("/admin/moderation").get_data(as_text=True), action)

    edited = catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Something else", "description": ""}}})
    status_after_edit = edited.status
    catalog.submit_product(actor, product.id)
    db.session.commit()
    answer = post_form(action, {"stamp": seen})

    assert status_after_edit == ProductStatus.DRAFT
    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "This listing changed since you opened it; review it again."]
    assert product.status == ProductStatus.SUBMITTED


def test_approving_an_edit_keeps_prices_changed_directly_since(app):
    _vendor, _owner, actor, product = _live_shirt()
    small, medium = product.variants
    revision = catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Linen Shirt, relaxed", "description": ""}},
        "variants": [{"id": small.id, "sku": "SHIRT-S", "price_minor": 4_500,
                      "weight_grams": 200, "options": {"size": "S"}}]})
    db.session.commit()
    medium.price_minor = 3_000  # a CSV import changes a live product's prices directly
    db.session.commit()

    moderation.approve_revision(revision.id, None)
    db.session.commit()

    assert (product.title, small.price_minor, medium.price_minor, medium.compare_at_minor) == (
        "Linen Shirt, relaxed", 4_500, 3_000, 5_900)


def test_the_queue_lists_what_an_edit_changes(client):
    _vendor, _owner, actor, product = _live_shirt()
    small = product.variants[0]
    catalog.update_product(actor, product.id, {
        "texts": {"en": {"title": "Linen Shirt, relaxed",
                         "description": "<p>Soft <strong>linen</strong>.</p>"}},
        "variants": [{"id": small.id, "sku": "SHIRT-S", "price_minor": 3_900,
                      "weight_grams": 200, "options": {"size": "S"}}]})
    admin = make_admin()
    db.session.commit()
    log_in(client, admin)

    page = client.get("/admin/moderation").get_data(as_text=True)

    assert [text(item) for item in re.findall(r"<li data-change>(.*?)</li>", page, re.S)] == [
        "Title (en): Linen Shirt → Linen Shirt, relaxed",
        "SHIRT-S price: €49.00 → €39.00"]


def test_the_queue_loads_photos_without_a_query_per_product(client):
    _vendor, _owner, actor, category = make_shop()
    admin = make_admin()

    def add_products(count: int) -> None:
        for _ in range(count):
            sku = f"P{db.session.scalar(select(func.count()).select_from(Product))}"
            product = catalog.create_product(actor, shirt_data(category.id, variants=[
                {"sku": sku, "price_minor": 100, "options": {"size": "S"}}]))
            images.add_image(actor, product.id, png_bytes())
            catalog.submit_product(actor, product.id)
        db.session.commit()

    def selects_on_the_page() -> int:
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            client.get("/admin/moderation")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return sum("product_images" in s for s in statements)

    log_in(client, admin)
    add_products(1)
    one = selects_on_the_page()
    add_products(3)
    four = selects_on_the_page()

    assert one == four == 1
