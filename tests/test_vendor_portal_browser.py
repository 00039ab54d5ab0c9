"""The seller's journey through the vendor portal in real headless Chromium: sign up, apply to
sell with a logo, get approved, connect payouts with the sandbox provider, invite a staff
member who accepts, create a product with size and colour variants, a photo and a German
translation, get it approved and see it in the shop, stock it in two warehouses, import a
CSV file and follow its progress, and read it all back through the vendor API with a token
made in the portal.

The main pages are photographed at phone and desktop widths into ``test-artifacts/``
(override with TEST_ARTIFACTS) as ``vendor-<page>-<phone|desktop>.png``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.serving import make_server

from marketplace.extensions import db
from marketplace.jobs import run_queued_jobs
from marketplace.models import Category, OutboxJob, Role, User
from tests.factories import PASSWORD, make_category, make_user
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture)
from vendors.models import Product, Vendor, VendorStatus

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SHOP = "Fjord & Field"
TITLE = "Linen Shirt"
TITLE_DE = "Leinenhemd"
IMPORT_PRODUCTS = 25  # two sizes each: 50 rows


@dataclass
class Portal:
    url: str
    category: Category
    admin: User
    staff: User


@pytest.fixture
def portal(app, tmp_path) -> Iterator[Portal]:
    saved = app.config["SEARCH_INDEX_DIR"]
    app.config["SEARCH_INDEX_DIR"] = str(tmp_path / "search-index")
    app.extensions.pop("marketplace.search", None)
    category = make_category("Shirts")
    category.slug = "shirts"
    admin = make_user("admin@example.com", role=Role.ADMIN, name="Ada Admin")
    staff = make_user("sam@example.com", name="Sam Stock")
    db.session.commit()
    app.config["SERVER_NAME"] = None  # the browser reaches us as 127.0.0.1:<port>
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Portal(f"http://127.0.0.1:{server.server_port}", category, admin, staff)
    finally:
        server.shutdown()
        app.config["SERVER_NAME"] = "localhost"
        app.config["SEARCH_INDEX_DIR"] = saved
        app.extensions.pop("marketplace.search", None)


# --- Helpers --------------------------------------------------------------------------------


def _shoot(page, name: str) -> None:
    """Photograph the page at phone and desktop widths; nothing may overflow sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], (
            f"{name} overflows at {label} width")
        page.screenshot(path=str(ARTIFACTS / f"vendor-{name}-{label}.png"), full_page=True)


def _without_refresh(route) -> None:
    answer = route.fetch()
    route.fulfill(response=answer, headers={
        name: value for name, value in answer.headers.items() if name.lower() != "refresh"})


def _shoot_still(context, url: str, name: str) -> None:
    """Photograph a page that reloads itself (a running import) from a copy that doesn't, so
    a reload can't land in the middle of the photos."""
    still = context.new_page()
    still.route(url, _without_refresh)
    still.goto(url)
    _shoot(still, name)
    still.close()


def _flashes(page) -> list[str]:
    return [text.strip() for text in page.locator(".flash").all_inner_texts()]


def _submit(page, button: str) -> None:
    page.click(button)
    page.wait_for_load_state()


def _log_in(page, base: str, email: str, next_path: str = "") -> None:
    page.goto(f"{base}/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    _submit(page, "form.stacked button[type=submit]")


def _image(path: Path, size: tuple[int, int], fmt: str) -> Path:
    width, height = size
    picture = Image.new("RGB", size)
    picture.putdata([(x * 255 // width, y * 255 // height, 120)
                     for y in range(height) for x in range(width)])
    picture.save(path, fmt)
    return path


def _catalog_csv(path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["product_handle", "title", "category", "sku", "price", "attr:size",
                     "stock:Berlin", "stock:Hamburg"])
    for n in range(1, IMPORT_PRODUCTS + 1):
        for size in ("S", "M"):
            writer.writerow([f"cotton-tee-{n}", f"Cotton Tee {n}", "shirts",
                             f"TEE-{n:03d}-{size}", "14.50", size, n, 2])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _invitation_link(email: str) -> str:
    db.session.expire_all()
    job = db.session.scalars(select(OutboxJob).where(OutboxJob.queue == "email")
                             .order_by(OutboxJob.id.desc())).first()
    assert job is not None and job.args[0] == email
    match = re.search(r"https?://\S+(/vendor/team/join/\S+)", job.args[2])
    assert match, job.args[2]
    return match.group(1)


def _api(base: str, path: str, secret: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {secret}"})
    # No proxy: the live server is on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


# --- The journey ----------------------------------------------------------------------------


def test_a_seller_sets_up_shop_team_catalog_stock_and_api_in_the_portal(
        app, portal, browser, tmp_path):  # noqa: F811
    base = portal.url
    owner_context = browser.new_context(viewport=DESKTOP)
    page = owner_context.new_page()

    # Sign up and apply to sell, with a logo.
    page.goto(base + "/register")
    page.fill("#name", "Olga Owner")
    page.fill("#email", "olga@example.com")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    _submit(page, "form.stacked button[type=submit]")
    assert "Welcome, Olga Owner! Your account is ready." in _flashes(page)
    _submit(page, "header nav a:has-text('Start selling')")
    assert page.locator("h1").inner_text() == "Sell on this marketplace"
    assert page.input_value("#contact_email") == "olga@example.com"
    page.fill("#name", SHOP)
    page.select_option("#country", "DE")
    page.fill("#contact_phone", "+49 30 1234567")
    page.select_option("#default_currency", "EUR")
    page.select_option("#payout_currency", "EUR")
    page.fill("#description", "Linen shirts and dresses, sewn in Berlin.")
    page.set_input_files("#logo", str(_image(tmp_path / "logo.png", (200, 200), "PNG")))
    _submit(page, "button:has-text('Send application')")
    assert f"Thank you! Your application for {SHOP} was sent for review." in _flashes(page)
    assert page.locator("#application-status").inner_text() == "Waiting for review"
    assert page.locator("dl.facts dt:has-text('Logo') + dd").inner_text() == "Uploaded"

    # A marketplace admin approves the application. The vendor queue comes with the admin
    # issue (there is no page for it yet), so the admin's decision is the model's transition.
    vendor = db.session.scalars(select(Vendor).where(Vendor.name == SHOP)).one()
    vendor.set_status(VendorStatus.APPROVED)
    db.session.commit()

    page.reload()
    assert page.locator("#application-status").inner_text() == "Approved"
    page.goto(base + "/vendor/")
    assert page.locator(".status-banner").count() == 0
    assert page.locator("h1").inner_text() == SHOP

    # Connect payouts with the sandbox provider.
    page.click(".portal-nav a:has-text('Payouts')")
    page.wait_for_load_state()
    assert page.locator("#payout-state").get_attribute("data-state") == "none"
    _submit(page, "button:has-text('Connect payouts')")
    assert "/payments/sandbox/onboarding/" in page.url
    assert page.locator("h1").inner_text() == f"Set up payouts for {SHOP}"
    _submit(page, "button:has-text('Complete onboarding')")
    assert page.url == base + "/vendor/payouts"
    assert "Payouts are enabled. You will be paid for your sales." in _flashes(page)
    assert page.locator("#payout-state").inner_text() == "Payouts are enabled."

    # Invite a staff member, who logs in from the emailed link and joins.
    page.click(".portal-nav a:has-text('Team')")
    page.wait_for_load_state()
    page.fill("#email", "sam@example.com")
    page.select_option("#role", "staff")
    _submit(page, "button:has-text('Send the invitation')")
    assert "Invitation sent to sam@example.com." in _flashes(page)
    assert page.locator("tr[data-invitation] td").first.inner_text() == "sam@example.com"
    link = _invitation_link("sam@example.com")

    staff_context = browser.new_context(viewport=PHONE)
    staff_page = staff_context.new_page()
    staff_page.goto(base + link)
    assert staff_page.locator("h1").inner_text() == f"Join {SHOP}"
    staff_page.click("a.button:has-text('Log in')")
    staff_page.wait_for_load_state()
    staff_page.fill("input[name=email]", "sam@example.com")
    staff_page.fill("input[name=password]", PASSWORD)
    _submit(staff_page, "form.stacked button[type=submit]")
    assert staff_page.url == base + link
    _submit(staff_page, "button:has-text('Accept and join')")
    assert staff_page.url == base + "/vendor/"
    assert f"Welcome to {SHOP}!" in _flashes(staff_page)
    assert staff_page.locator(".portal-shop .badge").inner_text() == "Staff"
    staff_context.close()

    page.reload()
    assert page.locator("tr[data-member]").count() == 2
    assert page.locator("tr[data-member]:has-text('sam@example.com') select").input_value() == (
        "staff")
    assert page.locator("tr[data-invitation]").count() == 0

    # A product with sizes and colours, a German translation and a photo.
    page.click(".portal-nav a:has-text('Products')")
    page.wait_for_load_state()
    assert page.locator(".empty").inner_text().startswith("No products yet.")
    page.click("a.button:has-text('Add a product')")
    page.wait_for_load_state()
    page.select_option("#category_id", str(portal.category.id))
    page.fill("#title-en", TITLE)
    page.fill("#description-en", "A loose shirt of washed linen.")
    page.click("details.translations > summary")
    page.fill("#title-de", TITLE_DE)
    page.fill("#description-de", "Ein weites Hemd aus gewaschenem Leinen.")
    page.fill("#attributes", "material: linen")
    page.fill("#option-name-0", "Size")
    page.fill("#option-values-0", "S, M, L")
    page.fill("#option-name-1", "Colour")
    page.fill("#option-values-1", "Sand, Navy")
    page.fill("#sku_prefix", "SHIRT")
    page.fill("#default_price", "59.00")
    _submit(page, "button:has-text('Update the variant rows')")
    assert page.locator("tr[data-variant-row]").count() == 6
    assert page.input_value("#title-de") == TITLE_DE
    _shoot(page, "product-form")
    _submit(page, "button:has-text('Save the product')")
    assert ("The product is saved as a draft. Add photos, then send it for review."
            in _flashes(page))
    product_id = int(re.search(r"/vendor/products/(\d+)", page.url).group(1))
    assert page.locator("h1 .badge").inner_text() == "Draft"

    page.set_input_files("#image", str(_image(tmp_path / "shirt.jpg", (640, 480), "JPEG")))
    page.fill("#alt", "The sand linen shirt on a hanger")
    _submit(page, "button:has-text('Upload the photo')")
    assert "The photo is added." in _flashes(page)
    assert page.locator(".photo-list li").count() == 1
    assert page.locator(".photo-list img").evaluate("img => img.naturalWidth") > 0
    _submit(page, "button:has-text('Send for review')")
    assert "The product is sent for review." in _flashes(page)
    assert page.locator("h1 .badge").inner_text() == "Awaiting review"

    # The admin approves it on the review page; the product goes live in the shop.
    admin_context = browser.new_context(viewport=DESKTOP)
    admin_page = admin_context.new_page()
    _log_in(admin_page, base, "admin@example.com", "/admin/moderation")
    item = admin_page.locator(f"article[data-product='{product_id}']")
    assert item.locator("h3").inner_text() == TITLE
    assert item.locator("tbody tr").count() == 6
    assert item.locator("img").count() == 1
    item.locator("button:has-text('Approve')").click()
    admin_page.wait_for_load_state()
    assert f"{TITLE} is live." in _flashes(admin_page)
    admin_context.close()
    run_queued_jobs(app)  # the search index job, as a worker would run it

    page.reload()
    assert page.locator("h1 .badge").inner_text() == "Live"
    page.click("a:has-text('See it in the shop')")
    page.wait_for_load_state()
    assert page.locator("h1.product-name").inner_text() == TITLE
    german = browser.new_context(viewport=PHONE, locale="de-DE")
    german_page = german.new_page()
    german_page.goto(page.url)
    assert german_page.locator("h1.product-name").inner_text() == TITLE_DE
    german.close()

    # Two warehouses; one variant stocked in both.
    for name, priority in (("Berlin", "0"), ("Hamburg", "1")):
        page.goto(base + "/vendor/locations/new")
        page.fill("#name", name)
        page.select_option("#country", "DE")
        page.fill("#address", f"Lagerstraße 1\n{name}")
        page.fill("#priority", priority)
        _submit(page, "button:has-text('Save the location')")
        assert f"The location {name} was added." in _flashes(page)
    assert page.locator("tr[data-location]").count() == 2

    page.click(".portal-nav a:has-text('Products')")
    page.wait_for_load_state()
    row = page.locator(f"li[data-product='{product_id}']")
    assert row.locator(".variant-links li").count() == 6
    row.locator(".variant-links a").first.click()
    page.wait_for_load_state()
    sku = page.locator("h1").inner_text().split(" ·")[0]
    for location, quantity in (("Berlin", "12"), ("Hamburg", "5")):
        page.select_option("#location_id", label=location)
        page.select_option("#reason", "received")
        page.fill("#quantity", quantity)
        _submit(page, "button:has-text('Record the adjustment')")
    assert page.locator("tr[data-location] td:first-child").all_inner_texts() == [
        "Berlin", "Hamburg"]
    assert page.locator("tr[data-location] .on-hand").all_inner_texts() == ["12", "5"]
    assert page.locator("#total-on-hand").inner_text() == "17"
    assert page.locator("#total-available").inner_text() == "17"

    page.click(".portal-nav a:has-text('Stock')")
    page.wait_for_load_state()
    stocked = page.locator("tr[data-variant]", has_text=sku)
    assert stocked.locator(".on-hand").inner_text() == "17"
    assert page.locator("tr[data-variant]").count() == 6
    _shoot(page, "stock")

    # Import 50 rows from a CSV file and follow the progress page until it is done.
    page.click(".portal-nav a:has-text('Catalog files')")
    page.wait_for_load_state()
    assert page.locator(".empty").inner_text() == "No imports or exports yet."
    page.set_input_files("#file", str(_catalog_csv(tmp_path / "catalog.csv")))
    _submit(page, "button:has-text('Upload and check')")
    assert "catalog.csv was uploaded; its rows are being checked." in _flashes(page)
    assert page.locator("section[data-status]").get_attribute("data-status") == "queued"
    assert page.locator(".transfer-status .badge").inner_text() == "waiting to start"
    _shoot_still(owner_context, page.url, "import-progress")
    run_queued_jobs(app)
    # The page reloads itself (Refresh header) until the import is finished.
    page.wait_for_selector("section[data-status='done']", timeout=15_000)
    assert page.locator(".transfer-summary").inner_text() == (
        "Imported: 50 new variant(s), 0 changed, 0 unchanged, 0 row(s) with errors left out.")
    _shoot(page, "import-done")

    page.click(".portal-nav a:has-text('Products')")
    page.wait_for_load_state()
    statuses = page.locator("select[name=status] option").all_inner_texts()
    assert "Draft (25)" in statuses and "Live (1)" in statuses
    assert page.locator("li[data-product]:has-text('Cotton Tee 25')").count() == 1
    _shoot(page, "products")
    page.click(".portal-nav a:has-text('Stock')")
    page.wait_for_load_state()
    page.fill("form.filters input[name=q]", "TEE-025-S")
    _submit(page, "form.filters button:has-text('Show')")
    assert page.locator("tr[data-variant] .on-hand").all_inner_texts() == ["27"]  # 25 + 2

    page.click(".portal-nav a:has-text('Overview')")
    page.wait_for_load_state()
    assert page.locator("#total-products").inner_text() == "26"
    assert page.locator("tr[data-status='draft'] td").nth(1).inner_text() == "25"
    assert page.locator("tr[data-status='approved'] td").nth(1).inner_text() == "1"
    assert page.locator(".notice:has-text('Payouts are not set up yet.')").count() == 0
    _shoot(page, "dashboard")

    # A token made in the portal (shown once) reads it all back through the API.
    page.click(".portal-nav a:has-text('API tokens')")
    page.wait_for_load_state()
    page.fill("#name", "Warehouse sync")
    page.check("input[name=scopes][value='catalog:read']")
    page.check("input[name=scopes][value='inventory:read']")
    _submit(page, "button:has-text('Create the token')")
    secret = page.locator("#new-token-secret").inner_text().strip()
    assert len(secret) > 20
    assert page.locator("tr[data-token] td").first.inner_text() == "Warehouse sync"
    page.click(".portal-nav a:has-text('API tokens')")
    page.wait_for_load_state()
    assert page.locator("#new-token-secret").count() == 0
    assert secret not in page.content()
    assert page.locator("tr[data-token]").count() == 1

    product = _api(base, f"/api/v1/vendor/products/{product_id}", secret)
    assert (product["title"], product["status"]) == (TITLE, "approved")
    assert product["translations"]["de"]["title"] == TITLE_DE
    assert len(product["variants"]) == 6 and len(product["images"]) == 1
    assert {v["currency"] for v in product["variants"]} == {"EUR"}
    assert {v["price_minor"] for v in product["variants"]} == {5900}
    variant = next(v for v in product["variants"] if v["sku"] == sku)
    levels = _api(base, f"/api/v1/vendor/stock-levels?variant_id={variant['id']}", secret)
    assert sorted(level["on_hand"] for level in levels["items"]) == [5, 12]
    listing = _api(base, "/api/v1/vendor/products?status=draft", secret)
    assert listing["meta"]["total"] == 25
    db.session.expire_all()
    assert db.session.scalar(select(Product).where(Product.id == product_id)).title == TITLE
    owner_context.close()
