"""Product photos: checked by their content, re-encoded without metadata, kept in the database.

An upload is accepted only when its bytes are a JPEG, PNG or WebP image that Pillow decodes
in full, within MAX_IMAGE_BYTES and MAX_PIXELS (a decompression bomb is refused before it is
decoded), with nothing appended (an image followed by a ZIP archive or a script is a
polyglot, refused). The file name and the browser's content type are ignored. What is stored
is never the upload: the pixels are re-encoded (JPEG, or PNG when the photo has
transparency) into a full size of at most FULL_SIDE pixels and a THUMB_SIDE thumbnail, which
drops EXIF (GPS positions included), ICC tricks and anything hidden in the file.

The bytes live in ``product_images`` so that every web machine serves every image; URLs carry
the SHA-256 of the bytes, so responses are cached for a year as immutable.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, func, select, update

from marketplace.extensions import db
from marketplace.scoping import vendor_select
from vendors.access import Actor, Permission
from vendors.catalog import revision_for_photos
from vendors.errors import Conflict, InvalidInput, UnknownReference
from vendors.models import Product, ProductImage, ProductStatus
from vendors.search import queue_reindex_products

MAX_IMAGE_BYTES = 5 * 1024 * 1024
# 40 megapixels: any phone photo; a bomb that inflates to gigabytes is refused unread.
MAX_PIXELS = 40_000_000
MAX_IMAGES_PER_PRODUCT = 10
FULL_SIDE = 2048
THUMB_SIDE = 400
JPEG_QUALITY = 85

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class InvalidImage(InvalidInput):
    """The upload is not a photo we accept; the message says why."""

    def __init__(self, message: str):
        super().__init__(message, field="image")


@dataclass(frozen=True)
class Encoded:
    content_type: str
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class ProcessedImage:
    full: Encoded
    thumb: Encoded
    digest: str


def _sniff(raw: bytes) -> str | None:
    """The format the first bytes announce (JPEG, PNG, WEBP), else None."""
    if raw.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if raw.startswith(_PNG_MAGIC):
        return "PNG"
    if len(raw) >= 12 and raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    return None


def _png_end(raw: bytes) -> int:
    """Where the PNG's IEND chunk ends (walking the chunks), or -1 when malformed."""
    pos = len(_PNG_MAGIC)
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind = raw[pos + 4:pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    return -1


def _has_appended_data(raw: bytes, kind: str) -> bool:
    """Bytes after the image's own end: where polyglots (image + ZIP, image + HTML) hide.
    A file without an end at all is left to the decoder, which calls it damaged."""
    if kind == "PNG":
        end = _png_end(raw)
        return end not in (-1, len(raw))
    if kind == "WEBP":
        (size,) = struct.unpack("<I", raw[4:8])
        return size + 8 + (size % 2) < len(raw)
    # JPEG: the last End Of Image marker must close the file (a few padding bytes allowed).
    end = raw.rfind(b"\xff\xd9")
    return end != -1 and raw[end + 2:].strip(b"\x00\r\n ") != b""


def _encode(image: Image.Image, side: int) -> Encoded:
    copy = image
    if max(image.size) > side:
        copy = image.copy()
        # reducing_gap: a fast integer reduction first, then Lanczos; indistinguishable here.
        copy.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    if copy.mode in ("RGBA", "LA"):
        copy.save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        copy.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True,
                                 progressive=True)
        content_type = "image/jpeg"
    return Encoded(content_type, out.getvalue(), copy.width, copy.height)


def process_upload(raw: bytes) -> ProcessedImage:
    """Check an upload by its content and re-encode it; raises InvalidImage saying why."""
    if not raw:
        raise InvalidImage(_("Choose a photo to upload."))
    if len(raw) > MAX_IMAGE_BYTES:
        raise InvalidImage(_("This file is larger than %(mb)d MB.",
                             mb=MAX_IMAGE_BYTES // (1024 * 1024)))
    kind = _sniff(raw)
    if kind is None:
        raise InvalidImage(_("This file is not a JPEG, PNG or WebP photo (SVG and other "
                             "formats are not accepted)."))
    if _has_appended_data(raw, kind) or b"PK\x05\x06" in raw[-65_600:]:
        raise InvalidImage(_("This file has other data hidden after the photo; export the "
                             "photo again and upload that."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=[kind])
            if image.width * image.height > MAX_PIXELS:
                raise InvalidImage(_("This photo has more than %(mp)d megapixels.",
                                     mp=MAX_PIXELS // 1_000_000))
            if kind == "JPEG":
                # Decode a big JPEG at a reduced scale (still at least FULL_SIDE): the same
                # result for a fraction of the time and memory.
                image.draft(image.mode, (FULL_SIDE, FULL_SIDE))
            image.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(_("This photo has more than %(mp)d megapixels.",
                             mp=MAX_PIXELS // 1_000_000)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        raise InvalidImage(_("This photo is damaged or incomplete and can't be read.")) from None
    if image.format != kind:
        raise InvalidImage(_("This file is not a JPEG, PNG or WebP photo."))
    # Turn the pixels the way the camera meant (EXIF orientation) before the EXIF goes.
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode == "PA"
                              else "RGB")
    if max(image.size) > FULL_SIDE:
        image.thumbnail((FULL_SIDE, FULL_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    full = _encode(image, FULL_SIDE)
    return ProcessedImage(full=full, thumb=_encode(image, THUMB_SIDE),
                          digest=hashlib.sha256(full.data).hexdigest())


# --- Services ------------------------------------------------------------------------------


def _product(actor: Actor, product_id: int) -> Product:
    # Locked: two uploads at once would both count nine photos and make twelve.
    product = db.session.scalar(vendor_select(Product, actor.vendor_id)
                                .where(Product.id == product_id).with_for_update())
    if product is None:
        raise UnknownReference(_("There is no such product."), field="product_id")
    return product


def _image(actor: Actor, image_id: int) -> ProductImage:
    image = db.session.scalar(vendor_select(ProductImage, actor.vendor_id)
                              .where(ProductImage.id == image_id))
    if image is None:
        raise UnknownReference(_("There is no such photo."), field="image_id")
    return image


def _shown_changed(product_id: int) -> None:
    # A live product's photos are on its cached storefront page: reindexing bumps the
    # catalog generation so every web process drops that page.
    status = db.session.scalar(select(Product.status).where(Product.id == product_id))
    if status == ProductStatus.APPROVED:
        queue_reindex_products([product_id])


def add_image(actor: Actor, product_id: int, raw: bytes, *, alt: str = "") -> ProductImage:
    """Add a photo after the product's others; on a live product it waits for review
    (``pending``) with the product's pending revision. Raises PermissionDenied,
    UnknownReference, InvalidImage, Conflict (MAX_IMAGES_PER_PRODUCT reached)."""
    actor.require(Permission.EDIT_CATALOG)
    product = _product(actor, product_id)
    if product.status == ProductStatus.ARCHIVED:
        raise Conflict(_("This product is archived; restore it before editing."))
    count, last = db.session.execute(
        select(func.count(), func.max(ProductImage.position))
        .where(ProductImage.product_id == product.id)
    ).one()
    if count >= MAX_IMAGES_PER_PRODUCT:
        raise Conflict(_("A product can have at most %(num)d photos.",
                         num=MAX_IMAGES_PER_PRODUCT))
    processed = process_upload(raw)
    live = product.status == ProductStatus.APPROVED
    image = ProductImage(
        vendor_id=actor.vendor_id, product_id=product.id, position=(last or 0) + 1,
        content_type=processed.full.content_type, digest=processed.digest,
        width=processed.full.width, height=processed.full.height, data=processed.full.data,
        thumb_width=processed.thumb.width, thumb_height=processed.thumb.height,
        thumb_data=processed.thumb.data, alt=" ".join((alt or "").split())[:200],
        pending=live,
    )
    db.session.add(image)
    db.session.flush()
    if live:
        # Buyers see it once a moderator approves the product's pending revision.
        revision_for_photos(actor, product)
    return image


def delete_image(actor: Actor, image_id: int) -> int:
    """Remove a photo; returns its product's id. Raises PermissionDenied, UnknownReference."""
    actor.require(Permission.EDIT_CATALOG)
    image = _image(actor, image_id)
    product_id, was_shown = image.product_id, not image.pending
    db.session.delete(image)
    db.session.flush()
    if was_shown:
        _shown_changed(product_id)
    return product_id


def move_image(actor: Actor, image_id: int, offset: int) -> ProductImage:
    """Swap a photo with its neighbour (``offset`` -1: earlier, +1: later); the first photo
    is the product's main one. Raises PermissionDenied, UnknownReference."""
    actor.require(Permission.EDIT_CATALOG)
    image = _image(actor, image_id)
    siblings = db.session.scalars(
        select(ProductImage).where(ProductImage.product_id == image.product_id)
        .order_by(ProductImage.position, ProductImage.id)
    ).all()
    for position, sibling in enumerate(siblings, start=1):
        sibling.position = position
    index = siblings.index(image)
    other = index + (1 if offset > 0 else -1)
    if 0 <= other < len(siblings):
        image.position, siblings[other].position = siblings[other].position, image.position
    db.session.flush()
    _shown_changed(image.product_id)
    return image


def image_bytes(image_id: int, size: str) -> tuple[bytes, str, str] | None:
    """(bytes, content type, digest) of one size ("full" or "thumb") of a photo."""
    column = ProductImage.thumb_data if size == "thumb" else ProductImage.data
    row = db.session.execute(
        select(column, ProductImage.content_type, ProductImage.digest)
        .where(ProductImage.id == image_id)
    ).first()
    return (row[0], row[1], row[2]) if row else None


def publish_pending(product_id: int) -> None:
    """Show the product's photos that waited for review (its revision or the product itself
    was approved)."""
    db.session.execute(
        update(ProductImage).where(ProductImage.product_id == product_id,
                                   ProductImage.pending.is_(True))
        .values(pending=False).execution_options(synchronize_session="fetch")
    )


def drop_pending(product_id: int) -> None:
    """Delete the product's photos that waited for review (the revision was rejected)."""
    db.session.execute(
        delete(ProductImage).where(ProductImage.product_id == product_id,
                                   ProductImage.pending.is_(True))
        .execution_options(synchronize_session="fetch")
    )


def first_images(product_ids: list[int]) -> dict[int, ProductImage]:
    """Each product's main photo (the first), for lists."""
    if not product_ids:
        return {}
    images = db.session.scalars(
        select(ProductImage).where(ProductImage.product_id.in_(product_ids))
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
    ).all()
    found: dict[int, ProductImage] = {}
    for image in images:
        found.setdefault(image.product_id, image)
    return found
