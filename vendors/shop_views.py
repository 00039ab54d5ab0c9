"""The shop section: applying to sell, the application's status, profile, vacation, payouts."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage

from marketplace.extensions import db
from marketplace.payments import PaymentProviderError
from vendors import onboarding, payout_account
from vendors.access import SESSION_VENDOR_KEY, Permission, vendor_member_required
from vendors.errors import VendorError
from vendors.forms import (
    ActionForm,
    ApplicationForm,
    PayoutCurrencyForm,
    ProfileForm,
    VacationForm,
    show_error,
)
from vendors.models import VendorStatus

bp = Blueprint("shop", __name__)


def _upload(field_data: FileStorage | None) -> bytes | None:
    if not isinstance(field_data, FileStorage) or not field_data.filename:
        return None
    # One byte more than allowed is enough to know the file is too large.
    return field_data.read(onboarding.MAX_LOGO_BYTES + 1)


def _contact(form) -> onboarding.Contact:
    return onboarding.Contact(form.contact_name.data or "", form.contact_email.data or "",
                              form.contact_phone.data or "")


def _application(form: ApplicationForm) -> onboarding.Application:
    return onboarding.Application(
        name=form.name.data or "", country=form.country.data or "", contact=_contact(form),
        default_currency=form.default_currency.data or "",
        payout_currency=form.payout_currency.data or "",
        description=form.description.data or "", logo=_upload(form.logo.data),
    )


def _refused(form, error: VendorError) -> None:
    db.session.rollback()
    if not show_error(form, error):
        flash(error.message, "error")


@bp.route("/apply", methods=["GET", "POST"])
@login_required
def apply() -> ResponseReturnValue:
    form = ApplicationForm(contact_email=current_user.email, contact_name=current_user.name)
    status = 200
    if form.validate_on_submit():
        try:
            vendor = onboarding.apply_to_sell(current_user.id, _application(form))
        except VendorError as error:
            _refused(form, error)
            status = error.status
        else:
            db.session.commit()
            session[SESSION_VENDOR_KEY] = vendor.id
            flash(_("Thank you! Your application for %(shop)s was sent for review.",
                    shop=vendor.name), "success")
            return redirect(url_for("vendors.shop.profile"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("vendors/apply.html", form=form,
                           pending=onboarding.pending_application(current_user.id)), status


@bp.get("/shop")
@vendor_member_required
def profile() -> ResponseReturnValue:
    return _shop_page(VacationForm(on_vacation=g.vendor.on_vacation,
                                   message=g.vendor.vacation_message))


def _shop_page(vacation_form: VacationForm, status: int = 200) -> ResponseReturnValue:
    return render_template("vendors/shop.html", vendor=g.vendor, vacation_form=vacation_form,
                           statuses=VendorStatus), status


@bp.route("/shop/application", methods=["GET", "POST"])
@vendor_member_required
def edit_application() -> ResponseReturnValue:
    g.actor.require(Permission.EDIT_APPLICATION)
    vendor = g.vendor
    form = ApplicationForm(obj=vendor, payout_currency=vendor.effective_payout_currency)
    status = 200
    if form.validate_on_submit():
        was_rejected = vendor.status == VendorStatus.REJECTED
        try:
            onboarding.update_application(g.actor, _application(form))
        except VendorError as error:
            _refused(form, error)
            status = error.status
        else:
            db.session.commit()
            flash(_("Your application was sent for review again.") if was_rejected
                  else _("Your application was updated."), "success")
            return redirect(url_for("vendors.shop.profile"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("vendors/application_form.html", form=form, vendor=vendor), status


@bp.route("/shop/profile", methods=["GET", "POST"])
@vendor_member_required
def edit_profile() -> ResponseReturnValue:
    g.actor.require(Permission.EDIT_PROFILE)
    form = ProfileForm(obj=g.vendor)
    status = 200
    if form.validate_on_submit():
        try:
            onboarding.update_profile(g.actor, onboarding.Profile(
                contact=_contact(form), description=form.description.data or "",
                logo=_upload(form.logo.data), remove_logo=form.remove_logo.data,
            ))
        except VendorError as error:
            _refused(form, error)
            status = error.status
        else:
            db.session.commit()
            flash(_("Your shop's profile was saved."), "success")
            return redirect(url_for("vendors.shop.profile"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("vendors/profile_form.html", form=form, vendor=g.vendor), status


@bp.post("/shop/vacation")
@vendor_member_required
def vacation() -> ResponseReturnValue:
    form = VacationForm()
    if form.validate_on_submit():
        try:
            vendor = onboarding.set_vacation(g.actor, form.on_vacation.data,
                                             form.message.data or "")
        except VendorError as error:
            _refused(form, error)
            return _shop_page(form, error.status)
        db.session.commit()
        flash(_("Vacation mode is on: buyers see your listings but can't buy them.")
              if vendor.on_vacation else _("Vacation mode is off: buyers can buy again."),
              "success")
        return redirect(url_for("vendors.shop.profile"), 303)
    return _shop_page(form, 422)


# --- Payouts -------------------------------------------------------------------------------


def _payouts_page(currency_form: PayoutCurrencyForm | None = None,
                  status: int = 200) -> ResponseReturnValue:
    vendor = g.vendor
    return render_template(
        "vendors/payouts.html", vendor=vendor, action_form=ActionForm(),
        currency_form=currency_form or PayoutCurrencyForm(
            payout_currency=vendor.effective_payout_currency),
        connected=payout_account.connected_at_current_provider(vendor),
    ), status


@bp.get("/payouts")
@vendor_member_required
def payouts() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_PAYOUTS)
    return _payouts_page()


def _to_onboarding() -> ResponseReturnValue:
    """Redirect to the provider's onboarding, or back to the payouts page saying why not."""
    try:
        link = payout_account.onboarding_link(
            g.actor, return_url=url_for("vendors.shop.payouts_return", _external=True),
            refresh_url=url_for("vendors.shop.payouts_refresh", _external=True),
        )
    except (PaymentProviderError, VendorError) as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("vendors.shop.payouts"), 303)
    return redirect(link, 303)


@bp.post("/payouts/connect")
@vendor_member_required
def connect_payouts() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        return _payouts_page(status=400)
    try:
        payout_account.ensure_payout_account(g.actor)
    except PaymentProviderError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("vendors.shop.payouts"), 303)
    # The account is ours from here on, whatever happens to the link.
    db.session.commit()
    return _to_onboarding()


@bp.get("/payouts/refresh")
@vendor_member_required
def payouts_refresh() -> ResponseReturnValue:
    # The provider sends the seller here when an onboarding link expired: make a new one.
    g.actor.require(Permission.MANAGE_PAYOUTS)
    return _to_onboarding()


@bp.get("/payouts/return")
@vendor_member_required
def payouts_return() -> ResponseReturnValue:
    return _refresh_status()


@bp.post("/payouts/status")
@vendor_member_required
def payouts_status() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        return _payouts_page(status=400)
    return _refresh_status()


def _refresh_status() -> ResponseReturnValue:
    try:
        vendor = payout_account.refresh_payout_status(g.actor)
    except PaymentProviderError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("vendors.shop.payouts"), 303)
    db.session.commit()
    if vendor.payouts_enabled:
        flash(_("Payouts are enabled. You will be paid for your sales."), "success")
    elif vendor.payout_account_id:
        flash(_("Your payout account still needs some details before payouts can start."),
              "info")
    return redirect(url_for("vendors.shop.payouts"), 303)


@bp.post("/payouts/currency")
@vendor_member_required
def payout_currency() -> ResponseReturnValue:
    form = PayoutCurrencyForm()
    if form.validate_on_submit():
        try:
            payout_account.set_payout_currency(g.actor, form.payout_currency.data)
        except VendorError as error:
            _refused(form, error)
            return _payouts_page(form, error.status)
        db.session.commit()
        flash(_("You will be paid in %(currency)s.", currency=form.payout_currency.data),
              "success")
        return redirect(url_for("vendors.shop.payouts"), 303)
    return _payouts_page(form, 422)
