"""Applying to sell, the application's status and reason, the profile, vacation mode."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import OutboxJob
from tests.factories import make_vendor
from tests.vendors.factories import make_member, make_person
from tests.vendors.pages import field_error, flashes, log_in, text
from vendors.models import MemberRole, Vendor, VendorMembership, VendorStatus


def _png(size: tuple[int, int] = (900, 300), colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def _application(**changes) -> dict:
    data = {
        "name": "Fjord & Field", "country": "NO", "contact_name": "Ingrid Berg",
        "contact_email": "Ingrid@Example.com", "contact_phone": "+47 22 33 44 55",
        "default_currency": "EUR", "payout_currency": "GBP",
        "description": "Wool blankets woven in Bergen.",
    }
    data.update(changes)
    return data


def _vendor_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Vendor))


def _outbox() -> list[tuple]:
    return [(j.queue, j.func, j.args) for j in db.session.scalars(
        select(OutboxJob).order_by(OutboxJob.id))]


def test_applying_creates_a_pending_shop_owned_by_the_applicant(client, post_form, app):
    applicant = make_person("ingrid@example.com", name="Ingrid Berg")
    db.session.commit()
    log_in(client, applicant)

    answer = post_form("/vendor/apply", _application(
        logo=(io.BytesIO(_png()), "logo.png")), content_type="multipart/form-data")

    assert answer.status_code == 303 and answer.headers["Location"] == "/vendor/shop"
    vendor = db.session.scalars(select(Vendor)).one()
    assert (vendor.name, vendor.slug, vendor.status, vendor.country, vendor.default_currency,
            vendor.payout_currency, vendor.contact_email, vendor.contact_phone) == (
        "Fjord & Field", "fjord-field", VendorStatus.PENDING, "NO", "EUR", "GBP",
        "ingrid@example.com", "+47 22 33 44 55")
    # The logo is re-encoded: a PNG of at most 512 pixels a side.
    assert vendor.logo_mime == "image/png"
    assert Image.open(io.BytesIO(vendor.logo)).size == (512, 171)
    membership = db.session.scalars(select(VendorMembership)).one()
    assert (membership.user_id, membership.role) == (applicant.id, MemberRole.OWNER)
    page = client.get("/vendor/shop").get_data(as_text=True)
    assert "Thank you! Your application for Fjord &amp; Field was sent for review." in page
    assert 'data-status="pending">Waiting for review</strong>' in page


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": ""}, "name", "This field is required."),
    ({"name": "X"}, "name", "Field must be between 2 and 120 characters long."),
    ({"country": "XX"}, "country", "Not a valid choice."),
    ({"contact_email": "ingrid@"}, "contact_email", "Enter a valid email address."),
    ({"contact_phone": "call me"}, "contact_phone",
     "Enter a phone number: digits, spaces and + ( ) - . only."),
    ({"default_currency": "BTC"}, "default_currency", "Not a valid choice."),
    ({"description": "x" * 5001}, "description", "Field cannot be longer than 5000 characters."),
])
def test_a_bad_application_is_refused_naming_the_field(client, post_form, app, changes, field,
                                                       message):
    log_in(client, make_person())
    db.session.commit()

    answer = post_form("/vendor/apply", _application(**changes))

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), field) == message
    assert _vendor_count() == 0


def test_a_file_that_is_not_an_image_is_refused_as_a_logo(client, post_form, app):
    log_in(client, make_person())
    db.session.commit()

    answer = post_form("/vendor/apply", _application(
        logo=(io.BytesIO(b"<svg onload=alert(1)>"), "logo.png")),
        content_type="multipart/form-data")

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "logo") == (
        "This file is not an image we can read. Upload a PNG, JPEG, GIF or WebP.")
    assert _vendor_count() == 0


def test_a_taken_shop_name_is_refused(client, post_form, app):
    make_vendor("Fjord & Field")
    log_in(client, make_person())
    db.session.commit()

    answer = post_form("/vendor/apply", _application(name="fjord & FIELD"))

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "name") == (
        "A shop with this name already exists. Choose another name.")
    assert _vendor_count() == 1


def test_one_application_at_a_time(client, post_form, app):
    log_in(client, make_person())
    db.session.commit()

    post_form("/vendor/apply", _application())
    again = post_form("/vendor/apply", _application(name="Another Shop"))

    assert again.status_code == 409
    assert _vendor_count() == 1
    assert "You already have an application waiting for review." in text(
        again.get_data(as_text=True))


def test_a_rejected_vendor_sees_why_and_applies_again(client, post_form, app):
    owner = make_person()
    vendor = make_vendor("Fjord & Field", owner=owner, status=VendorStatus.PENDING)
    vendor.reject("Please add a description of what you sell.")
    db.session.commit()
    log_in(client, owner)

    status_page = client.get("/vendor/shop").get_data(as_text=True)
    form_page = client.get("/vendor/shop/application").get_data(as_text=True)
    resubmitted = post_form("/vendor/shop/application", _application(
        description="Wool blankets and throws, woven by hand in Bergen."))

    assert '<p id="rejection-reason">Please add a description of what you sell.</p>' in (
        status_page)
    assert 'value="Fjord &amp; Field"' in form_page and "Send for review again" in form_page
    assert resubmitted.status_code == 303
    db.session.refresh(vendor)
    assert (vendor.status, vendor.rejection_reason, vendor.description) == (
        VendorStatus.PENDING, None, "Wool blankets and throws, woven by hand in Bergen.")
    assert "Your application was sent for review again." in flashes(
        client.get("/vendor/shop").get_data(as_text=True))


def test_an_approved_application_is_no_longer_editable(client, post_form, app):
    owner = make_person()
    vendor = make_vendor("Fjord & Field", owner=owner)
    db.session.commit()
    log_in(client, owner)

    answer = post_form("/vendor/shop/application", _application(name="Renamed"))

    assert answer.status_code == 409
    db.session.refresh(vendor)
    assert vendor.name == "Fjord & Field"


def test_the_profile_changes_contact_description_and_logo(client, post_form, app):
    owner = make_person()
    vendor = make_vendor("Fjord & Field", owner=owner)
    vendor.logo, vendor.logo_mime = _png((64, 64)), "image/png"
    db.session.commit()
    log_in(client, owner)

    answer = post_form("/vendor/shop/profile", {
        "contact_name": "Ola Nordmann", "contact_email": "ola@example.com",
        "description": "Now with cushions.", "remove_logo": "y"})

    assert answer.status_code == 303
    db.session.refresh(vendor)
    assert (vendor.contact_name, vendor.contact_email, vendor.description, vendor.logo,
            vendor.logo_mime) == ("Ola Nordmann", "ola@example.com", "Now with cushions.",
                                  None, None)


def test_vacation_mode_keeps_listings_visible_but_not_buyable(client, post_form, app):
    owner = make_person()
    vendor = make_vendor("Fjord & Field", owner=owner)
    db.session.commit()
    log_in(client, owner)

    on = post_form("/vendor/shop/vacation", {"on_vacation": "y",
                                             "message": "Back on 2 September."})
    db.session.refresh(vendor)
    state_on = (vendor.on_vacation, vendor.vacation_message, vendor.accepts_orders)
    again = post_form("/vendor/shop/vacation", {"on_vacation": "y",
                                                "message": "Back on 3 September."})
    off = post_form("/vendor/shop/vacation", {})

    assert [on.status_code, again.status_code, off.status_code] == [303, 303, 303]
    assert state_on == (True, "Back on 2 September.", False)
    db.session.refresh(vendor)
    assert (vendor.on_vacation, vendor.accepts_orders) == (False, True)
    # Reindexed whenever what buyers see changed: on, the new message, off.
    assert _outbox() == [("search", "vendors.search.reindex_vendor", [vendor.id])] * 3
    assert "Vacation mode is off: buyers can buy again." in flashes(
        client.get("/vendor/shop").get_data(as_text=True))


def test_a_too_long_vacation_message_is_refused(client, post_form, app):
    owner = make_person()
    vendor = make_vendor("Fjord & Field", owner=owner)
    db.session.commit()
    log_in(client, owner)

    answer = post_form("/vendor/shop/vacation", {"on_vacation": "y", "message": "z" * 501})

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "message") == (
        "Field cannot be longer than 500 characters.")
    db.session.refresh(vendor)
    assert vendor.on_vacation is False


def test_staff_cannot_change_vacation_mode_or_the_profile(client, post_form, app):
    vendor = make_vendor("Fjord & Field", owner=make_person())
    clerk = make_member(vendor, MemberRole.STAFF)
    db.session.commit()
    log_in(client, clerk)

    vacation = post_form("/vendor/shop/vacation", {"on_vacation": "y"})
    profile = client.get("/vendor/shop/profile")

    assert (vacation.status_code, profile.status_code) == (403, 403)
    assert "Only owners and managers can turn vacation mode on or off." in text(
        vacation.get_data(as_text=True))
    db.session.refresh(vendor)
    assert vendor.on_vacation is False


def test_the_apply_page_needs_a_login(client, app):
    answer = client.get("/vendor/apply")

    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=")
