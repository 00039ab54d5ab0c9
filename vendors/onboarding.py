"""Becoming a vendor and running the shop's front: the application, profile and vacation mode.

Anyone logged in may apply ("Sell on this marketplace"). The application creates the vendor
as ``pending`` with the applicant as its owner; an admin approves or rejects it (the admin
issue), and a rejected vendor sees the reason, edits the application and sends it again.

Functions flush and never commit; the caller commits (or rolls back after an exception).
"""

from __future__ import annotations

import io
import re
import secrets
import unicodedata
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select

from marketplace.auth.services import InvalidEmail, normalise_email
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from vendors.access import Actor, Permission
from vendors.countries import country_codes
from vendors.errors import Conflict, InvalidInput
from vendors.models import (
    InvalidTransition,
    MemberRole,
    Vendor,
    VendorMembership,
    VendorStatus,
)

MAX_NAME = 120
MIN_NAME = 2
MAX_DESCRIPTION = 5_000
MAX_VACATION_MESSAGE = 500
MAX_LOGO_BYTES = 2 * 1024 * 1024
# Logos are re-encoded to at most this many pixels a side: small, and free of whatever
# metadata or trailing bytes the upload carried.
LOGO_MAX_SIDE = 512
LOGO_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,40}$")

REINDEX_VENDOR = "vendors.search.reindex_vendor"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str = ""


@dataclass(frozen=True)
class Application:
    """What the "Sell on this marketplace" form asks for."""

    name: str
    country: str
    contact: Contact
    default_currency: str
    payout_currency: str
    description: str = ""
    # The uploaded file's bytes, or None to keep (or not have) a logo.
    logo: bytes | None = None


@dataclass(frozen=True)
class Profile:
    """What a vendor may change about itself at any time, without a new review."""

    contact: Contact
    description: str = ""
    logo: bytes | None = None
    remove_logo: bool = False


def pending_application(user_id: int) -> Vendor | None:
    """A vendor the user owns whose application still waits for review, if any."""
    return db.session.scalar(
        select(Vendor)
        .join(VendorMembership, VendorMembership.vendor_id == Vendor.id)
        .where(VendorMembership.user_id == user_id,
               VendorMembership.role == MemberRole.OWNER,
               Vendor.status == VendorStatus.PENDING)
        .limit(1)
    )


def apply_to_sell(user_id: int, application: Application) -> Vendor:
    """Create a pending vendor from the application, owned by the applicant.

    Raises InvalidInput naming the field at fault, Conflict when the user already has an
    application waiting for review.
    """
    if pending_application(user_id) is not None:
        raise Conflict(_("You already have an application waiting for review. You can "
                         "edit it from your shop's page."))
    fields = _clean_application(application, exclude_vendor_id=None)
    vendor = Vendor(slug=_free_slug(fields["name"]), status=VendorStatus.PENDING, **fields)
    db.session.add(vendor)
    db.session.flush()
    db.session.add(VendorMembership(user_id=user_id, vendor_id=vendor.id,
                                    role=MemberRole.OWNER))
    db.session.flush()
    return vendor


def update_application(actor: Actor, application: Application) -> Vendor:
    """Edit an application that is pending or was rejected; a rejected one is sent for
    review again (back to pending, the old reason cleared).

    Raises PermissionDenied, InvalidInput, Conflict once the vendor was approved (its name,
    country and currency were reviewed; the profile stays editable).
    """
    actor.require(Permission.EDIT_APPLICATION)
    vendor = db.session.get(Vendor, actor.vendor_id)
    if vendor.status not in (VendorStatus.PENDING, VendorStatus.REJECTED):
        raise Conflict(_("Your application was already approved. Edit your shop's profile "
                         "instead, or contact the marketplace team to change its name."))
    fields = _clean_application(application, exclude_vendor_id=vendor.id)
    if fields["logo"] is None:
        del fields["logo"], fields["logo_mime"]
    for key, value in fields.items():
        setattr(vendor, key, value)
    if vendor.status == VendorStatus.REJECTED:
        try:
            vendor.set_status(VendorStatus.PENDING)
        except InvalidTransition as error:  # pragma: no cover - the check above rules it out
            raise Conflict(str(error)) from error
        vendor.rejection_reason = None
    db.session.flush()
    return vendor


def update_profile(actor: Actor, profile: Profile) -> Vendor:
    """Change the contact, description and logo. Raises PermissionDenied, InvalidInput."""
    actor.require(Permission.EDIT_PROFILE)
    vendor = db.session.get(Vendor, actor.vendor_id)
    contact = _clean_contact(profile.contact)
    vendor.contact_name, vendor.contact_email, vendor.contact_phone = contact
    vendor.description = _clean_description(profile.description)
    if profile.logo is not None:
        vendor.logo, vendor.logo_mime = process_logo(profile.logo)
    elif profile.remove_logo:
        vendor.logo, vendor.logo_mime = None, None
    db.session.flush()
    # The storefront shows the description and logo on the shop's and its products' pages,
    # which are cached until the next index write: make that write.
    enqueue_after_commit("search", REINDEX_VENDOR, vendor.id,
                         job_id=f"reindex-vendor-{vendor.id}")
    return vendor


def set_vacation(actor: Actor, on_vacation: bool, message: str = "") -> Vendor:
    """Turn vacation mode on (listings stay visible but can't be bought; buyers see
    ``message``) or off. Reindexes the vendor's listings when the mode changes.

    Raises PermissionDenied, InvalidInput (``message``).
    """
    actor.require(Permission.SET_VACATION)
    message = (message or "").strip()
    if len(message) > MAX_VACATION_MESSAGE:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_VACATION_MESSAGE),
                           field="message")
    vendor = db.session.get(Vendor, actor.vendor_id)
    before = (vendor.on_vacation, vendor.vacation_message)
    vendor.on_vacation = bool(on_vacation)
    vendor.vacation_message = (message or None) if on_vacation else vendor.vacation_message
    db.session.flush()
    if (vendor.on_vacation, vendor.vacation_message) != before:
        # Buyers see the mode and its message on the shop's and products' (cached) pages.
        enqueue_after_commit("search", REINDEX_VENDOR, vendor.id,
                             job_id=f"reindex-vendor-{vendor.id}")
    return vendor


def process_logo(raw: bytes) -> tuple[bytes, str]:
    """Check an uploaded logo and re-encode it as a PNG of at most LOGO_MAX_SIDE pixels a
    side; returns (bytes, mime). Raises InvalidInput (``logo``) for anything else."""
    if len(raw) > MAX_LOGO_BYTES:
        raise InvalidInput(_("The logo is too large; upload at most 2 MB."), field="logo")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format
            probe.verify()
        if kind not in LOGO_FORMATS:
            raise InvalidInput(_("Upload the logo as PNG, JPEG, GIF or WebP."), field="logo")
        with Image.open(io.BytesIO(raw)) as image:
            image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            converted = image.convert("RGBA")
            out = io.BytesIO()
            converted.save(out, format="PNG", optimize=True)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as error:
        raise InvalidInput(_("This file is not an image we can read. Upload a PNG, JPEG, GIF "
                             "or WebP."), field="logo") from error
    return out.getvalue(), "image/png"


def _clean_application(app: Application, exclude_vendor_id: int | None) -> dict:
    name = " ".join((app.name or "").split())
    if not MIN_NAME <= len(name) <= MAX_NAME:
        raise InvalidInput(_("Use %(low)d to %(high)d characters.", low=MIN_NAME, high=MAX_NAME),
                           field="name")
    same_name = select(Vendor.id).where(func.lower(Vendor.name) == name.lower())
    if exclude_vendor_id is not None:
        same_name = same_name.where(Vendor.id != exclude_vendor_id)
    if db.session.scalar(same_name.limit(1)) is not None:
        raise InvalidInput(_("A shop with this name already exists. Choose another name."),
                           field="name")
    country = (app.country or "").strip().upper()
    if country not in country_codes():
        raise InvalidInput(_("Choose the country your business is registered in."),
                           field="country")
    currencies = current_app.config["CURRENCIES"]
    if app.default_currency not in currencies:
        raise InvalidInput(_("Choose one of %(list)s.", list=", ".join(currencies)),
                           field="default_currency")
    if app.payout_currency not in currencies:
        raise InvalidInput(_("Choose one of %(list)s.", list=", ".join(currencies)),
                           field="payout_currency")
    contact_name, contact_email, contact_phone = _clean_contact(app.contact)
    logo, logo_mime = process_logo(app.logo) if app.logo is not None else (None, None)
    return {
        "name": name, "country": country, "default_currency": app.default_currency,
        "payout_currency": app.payout_currency, "contact_name": contact_name,
        "contact_email": contact_email, "contact_phone": contact_phone,
        "description": _clean_description(app.description), "logo": logo,
        "logo_mime": logo_mime,
    }


def _clean_contact(contact: Contact) -> tuple[str, str, str | None]:
    name = " ".join((contact.name or "").split())
    if not name:
        raise InvalidInput(_("Tell us who to contact."), field="contact_name")
    if len(name) > MAX_NAME:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_NAME),
                           field="contact_name")
    try:
        email = normalise_email(contact.email or "")
    except InvalidEmail as error:
        raise InvalidInput(error.message, field="contact_email") from error
    phone = (contact.phone or "").strip()
    if phone and not _PHONE.match(phone):
        raise InvalidInput(_("Enter a phone number: digits, spaces and + ( ) - . only."),
                           field="contact_phone")
    return name, email, phone or None


def _clean_description(raw: str) -> str:
    description = (raw or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_DESCRIPTION),
                           field="description")
    return description


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:100] or "shop"


def _free_slug(name: str) -> str:
    slug = slugify(name)
    if db.session.scalar(select(Vendor.id).where(Vendor.slug == slug)) is None:
        return slug
    return f"{slug}-{secrets.token_hex(3)}"
