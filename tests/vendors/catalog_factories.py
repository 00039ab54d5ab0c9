"""Catalog test helpers: product input as the API sends it, owners and admins, photo bytes."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Role
from tests.factories import make_category, make_vendor
from tests.vendors.factories import make_member, make_person
from vendors.access import Actor
from vendors.models import MemberRole, Vendor, VendorMembership


def actor_for(user, vendor: Vendor) -> Actor:
    membership = db.session.scalars(select(VendorMembership).where(
        VendorMembership.user_id == user.id, VendorMembership.vendor_id == vendor.id)).one()
    return Actor.member(membership)


def make_shop(name: str = "Linen & Co", *, currency: str = "EUR"):
    """An approved vendor, its owner (user) and the owner's Actor, and a category."""
    owner = make_person(name="Olga Owner")
    vendor = make_vendor(name, owner=owner, currency=currency)
    category = make_category("Clothing")
    return vendor, owner, actor_for(owner, vendor), category


def make_staff(vendor: Vendor, role: MemberRole = MemberRole.STAFF):
    user = make_member(vendor, role)
    return user, actor_for(user, vendor)


def make_admin():
    admin = make_person(name="Ada Admin")
    admin.role = Role.ADMIN
    db.session.flush()
    return admin


def shirt_data(category_id: int, **overrides) -> dict:
    """A shirt in two sizes, as ProductInputSchema loads it."""
    data = {
        "category_id": category_id,
        "texts": {"en": {"title": "Linen Shirt",
                         "description": "<p>Soft <strong>linen</strong>.</p>"}},
        "attributes": {"material": "linen"},
        "option_types": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": "SHIRT-S", "price_minor": 4_900, "compare_at_minor": None,
             "weight_grams": 200, "options": {"size": "S"}},
            {"sku": "SHIRT-M", "price_minor": 4_900, "compare_at_minor": 5_900,
             "weight_grams": 220, "options": {"size": "M"}},
        ],
    }
    data.update(overrides)
    return data


def png_bytes(width: int = 40, height: int = 30, colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg_with_exif(width: int = 40, height: int = 30) -> bytes:
    """A JPEG carrying EXIF (a camera model and GPS-like text) that re-encoding must drop."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0110] = "SecretCam 3000"  # Model
    exif[0x010E] = "52.5200N 13.4050E"  # ImageDescription
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()
