"""Product photos: checked by content, re-encoded without metadata, kept in the database and
served with long cache headers; shown in the portal and on the product page."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from marketplace.extensions import db
from tests.vendors.catalog_factories import (
    jpeg_with_exif,
    make_admin,
    make_shop,
    png_bytes,
    shirt_data,
)
from tests.vendors.pages import flashes, log_in
from vendors import catalog, images, moderation
from vendors.image_views import public_url
from vendors.images import InvalidImage, process_upload
from vendors.models import ProductImage


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(ProductImage))


def _draft():
    vendor, owner, actor, category = make_shop()
    product = catalog.create_product(actor, shirt_data(category.id))
    db.session.commit()
    return owner, actor, product


# --- Checking and re-encoding --------------------------------------------------------------


def test_a_real_png_is_accepted_and_re_encoded():
    upload = png_bytes(40, 30)

    processed = process_upload(upload)

    assert processed.full.data != upload
    assert (processed.full.content_type, processed.full.width, processed.full.height) == (
        "image/jpeg", 40, 30)
    assert Image.open(io.BytesIO(processed.thumb.data)).size == (40, 30)


def test_a_large_photo_is_scaled_down_and_loses_its_metadata():
    out = io.BytesIO()
    Image.new("RGB", (3000, 1500), (1, 2, 3)).save(out, "JPEG", exif=Image.Exif().tobytes())
    tagged = jpeg_with_exif()

    big = process_upload(out.getvalue())
    stripped = Image.open(io.BytesIO(process_upload(tagged).full.data))

    assert (big.full.width, big.full.height, big.thumb.width, big.thumb.height) == (
        2048, 1024, 400, 200)
    assert b"SecretCam" in tagged
    assert dict(stripped.getexif()) == {}
    assert b"SecretCam" not in process_upload(tagged).full.data


def test_the_camera_orientation_is_applied_before_the_metadata_goes():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned 90 degrees
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (9, 9, 9)).save(out, "JPEG", exif=exif.tobytes())

    processed = process_upload(out.getvalue())

    assert (processed.full.width, processed.full.height) == (30, 40)
    assert dict(Image.open(io.BytesIO(processed.full.data)).getexif()) == {}


def test_transparency_is_kept_as_png():
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(out, "PNG")

    assert process_upload(out.getvalue()).full.content_type == "image/png"


def _polyglot() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    return png_bytes() + archive.getvalue()


@pytest.mark.parametrize(("upload", "message"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "This file is not a JPEG, PNG or WebP photo (SVG and other formats are not accepted)."),
    (b"just some text pretending to be shirt.png\n",
     "This file is not a JPEG, PNG or WebP photo (SVG and other formats are not accepted)."),
    (_polyglot(),
     "This file has other data hidden after the photo; export the photo again and upload "
     "that."),
    (png_bytes()[:60], "This photo is damaged or incomplete and can't be read."),
    (b"", "Choose a photo to upload."),
])
def test_files_that_are_not_plain_photos_are_refused(app, upload, message):
    with pytest.raises(InvalidImage) as refused:
        process_upload(upload)

    assert (refused.value.field, refused.value.message) == ("image", message)


def test_an_oversized_file_is_refused(app):
    with pytest.raises(InvalidImage) as refused:
        process_upload(png_bytes() + b"\0" * images.MAX_IMAGE_BYTES)

    assert refused.value.message == "This file is larger than 5 MB."


def test_a_decompression_bomb_is_refused_before_it_is_decoded(app):
    out = io.BytesIO()
    Image.new("1", (8_000, 6_000)).save(out, "PNG")  # 48 megapixels in a few kilobytes
    assert len(out.getvalue()) < 100_000

    with pytest.raises(InvalidImage) as refused:
        process_upload(out.getvalue())

    assert refused.value.message == "This photo has more than 40 megapixels."


# --- Storing and serving -------------------------------------------------------------------


def test_the_portal_uploads_a_photo_and_lists_it(client, post_form):
    owner, _actor, product = _draft()
    log_in(client, owner)

    answer = post_form(f"/vendor/products/{product.id}/images",
                       {"image": (io.BytesIO(png_bytes()), "shirt.png"), "alt": "Front"},
                       content_type="multipart/form-data")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    image = db.session.scalars(select(ProductImage)).one()
    served = client.get(f"/vendor/products/images/{image.id}?size=thumb")
    listing = client.get("/vendor/products").get_data(as_text=True)

    assert flashes(page) == ["The photo is added."]
    assert (image.product_id, image.alt, image.content_type) == (product.id, "Front",
                                                                 "image/jpeg")
    assert (served.status_code, served.mimetype) == (200, "image/jpeg")
    assert served.headers["Cache-Control"] == "private, max-age=3600"
    assert f"/vendor/products/images/{image.id}?size=thumb" in listing


def test_a_fake_png_is_refused_in_the_portal_with_the_reason(client, post_form):
    owner, _actor, product = _draft()
    log_in(client, owner)

    answer = post_form(f"/vendor/products/{product.id}/images",
                       {"image": (io.BytesIO(b"GIF89a nope"), "shirt.png")},
                       content_type="multipart/form-data")

    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "This file is not a JPEG, PNG or WebP photo (SVG and other formats are not "
        "accepted)."]
    assert _count() == 0


def test_photos_of_live_products_are_public_and_cached_for_a_year(client):
    _owner, actor, product = _draft()
    image = images.add_image(actor, product.id, png_bytes())
    db.session.commit()
    url = public_url(image)

    hidden = client.get(url)
    catalog.submit_product(actor, product.id)
    moderation.approve_product(product.id)
    db.session.commit()
    shown = client.get(url)
    again = client.get(url, headers={"If-None-Match": shown.headers["ETag"]})
    wrong_digest = client.get(url.replace(image.digest[:16], "0" * 16))
    page = client.get(f"/p/{product.id}-{product.slug}").get_data(as_text=True)

    assert hidden.status_code == 404
    assert (shown.status_code, shown.mimetype, shown.data) == (200, "image/jpeg", image.data)
    assert shown.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert again.status_code == 304 and again.data == b""
    assert wrong_digest.status_code == 404
    assert f'src="{url}"' in page


def test_photos_are_reordered_and_removed(app):
    _owner, actor, product = _draft()
    first = images.add_image(actor, product.id, png_bytes(colour=(1, 1, 1)))
    second = images.add_image(actor, product.id, png_bytes(colour=(2, 2, 2)))

    images.move_image(actor, second.id, -1)
    db.session.expire_all()
    order = [image.id for image in product.images]
    images.delete_image(actor, second.id)
    db.session.expire_all()

    assert order == [second.id, first.id]
    assert [image.id for image in product.images] == [first.id]


def test_a_photo_added_to_a_live_product_waits_for_review(client):
    _owner, actor, product = _draft()
    catalog.submit_product(actor, product.id)
    moderation.approve_product(product.id)
    kept = images.add_image(actor, product.id, png_bytes(colour=(5, 5, 5)))
    second = images.add_image(actor, product.id, png_bytes(colour=(6, 6, 6)))
    db.session.commit()
    revision = catalog.pending_revision(product.id)
    url = public_url(kept)

    waiting = client.get(url)
    page_before = client.get(f"/p/{product.id}-{product.slug}").get_data(as_text=True)
    moderation.approve_revision(revision.id, None)
    db.session.commit()
    shown = client.get(url)

    assert (kept.pending, waiting.status_code, shown.status_code) == (False, 404, 200)
    assert "Linen Shirt" in page_before and url not in page_before
    assert second.pending is False  # approved with the same revision

    later_id = images.add_image(actor, product.id, png_bytes(colour=(7, 7, 7))).id
    db.session.commit()
    moderation.reject_revision(catalog.pending_revision(product.id).id, "Blurry.", None)
    db.session.commit()

    assert db.session.scalars(select(ProductImage.id).order_by(ProductImage.id)).all() == [
        kept.id, second.id]
    assert later_id not in (kept.id, second.id)


def test_a_photo_added_after_the_moderator_opened_an_edit_is_not_approved_with_it(
        client, post_form):
    _owner, actor, product = _draft()
    catalog.submit_product(actor, product.id)
    moderation.approve_product(product.id)
    seen_photo = images.add_image(actor, product.id, png_bytes(colour=(5, 5, 5)))
    admin = make_admin()
    db.session.commit()
    revision = catalog.pending_revision(product.id)
    log_in(client, admin)
    action = f"/admin/moderation/revisions/{revision.id}/approve"
    page = client.get("/admin/moderation").get_data(as_text=True)
    seen = re.search(rf'action="{action}">\s*<input[^>]*>\s*'
                     r'<input type="hidden" name="stamp" value="(\w+)">', page).group(1)

    images.add_image(actor, product.id, png_bytes(colour=(6, 6, 6)))
    db.session.commit()
    answer = post_form(action, {"stamp": seen})

    assert flashes(client.get(answer.headers["Location"]).get_data(as_text=True)) == [
        "This listing changed since you opened it; review it again."]
    assert seen_photo.pending is True
    assert revision.status.value == "pending"


@pytest.mark.postgres_only
def test_adding_a_photo_and_editing_lock_the_product_row(app):
    _owner, actor, product = _draft()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        images.add_image(actor, product.id, png_bytes())
        catalog.update_product(actor, product.id, {"attributes": {"fit": "slim"}})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    locks = [s for s in statements if "FOR UPDATE" in s]
    assert len(locks) == 2 and all("FROM products" in s for s in locks)
