"""The team section: members and their roles, invitations, and accepting an invitation."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.extensions import db
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import staff
from vendors.access import ROLE_LABELS, SESSION_VENDOR_KEY, Permission, vendor_member_required
from vendors.errors import VendorError
from vendors.forms import ActionForm, InviteForm, RoleForm, show_error
from vendors.models import VendorInvitation, VendorMembership

bp = Blueprint("staff", __name__, url_prefix="/team")

page_query = PageQuerySchema()


def _team_page(invite_form: InviteForm | None = None, status: int = 200) -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_STAFF)
    query = page_query.load(request.args)
    return render_template(
        "vendors/team.html",
        members=paginate(staff.members_select(g.vendor.id), query["page"], query["per_page"]),
        invitations=(staff.pending_invitations(g.vendor.id)
                     if g.actor.can(Permission.MANAGE_STAFF) else []),
        invite_form=invite_form or InviteForm(), role_form=RoleForm(), action_form=ActionForm(),
    ), status


def _back_with(error: VendorError) -> ResponseReturnValue:
    db.session.rollback()
    flash(error.message, "error")
    return _team_page(status=error.status)


@bp.get("")
@vendor_member_required
def members() -> ResponseReturnValue:
    return _team_page()


@bp.post("/invite")
@vendor_member_required
def invite() -> ResponseReturnValue:
    form = InviteForm()
    if not form.validate_on_submit():
        return _team_page(form, 422)
    try:
        invitation = staff.invite_member(g.actor, email=form.email.data, role=form.role.data)
    except VendorError as error:
        db.session.rollback()
        if not show_error(form, error):
            flash(error.message, "error")
        return _team_page(form, error.status)
    db.session.commit()
    flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
    return redirect(url_for("vendors.staff.members"), 303)


@bp.post("/members/<int:membership_id>/role")
@vendor_member_required
def change_role(membership_id: int) -> ResponseReturnValue:
    membership = get_vendor_owned_or_404(VendorMembership, membership_id, g.vendor.id)
    form = RoleForm()
    if not form.validate_on_submit():
        flash(_("Choose owner, manager or staff."), "error")
        return _team_page(status=422)
    try:
        staff.change_role(g.actor, membership.id, form.role.data)
    except VendorError as error:
        return _back_with(error)
    db.session.commit()
    flash(_("The role of %(name)s is now: %(role)s.", name=membership.user.name,
            role=ROLE_LABELS[membership.role]), "success")
    return redirect(url_for("vendors.staff.members"), 303)


@bp.post("/members/<int:membership_id>/remove")
@vendor_member_required
def remove_member(membership_id: int) -> ResponseReturnValue:
    membership = get_vendor_owned_or_404(VendorMembership, membership_id, g.vendor.id)
    name = membership.user.name
    try:
        staff.remove_member(g.actor, membership.id)
    except VendorError as error:
        return _back_with(error)
    db.session.commit()
    flash(_("%(name)s was removed from the team.", name=name), "success")
    if membership.user_id == current_user.id:
        return redirect(url_for("buyers.home"), 303)
    return redirect(url_for("vendors.staff.members"), 303)


@bp.post("/invitations/<int:invitation_id>/revoke")
@vendor_member_required
def revoke_invitation(invitation_id: int) -> ResponseReturnValue:
    invitation = get_vendor_owned_or_404(VendorInvitation, invitation_id, g.vendor.id)
    try:
        staff.revoke_invitation(g.actor, invitation.id)
    except VendorError as error:
        return _back_with(error)
    db.session.commit()
    flash(_("The invitation to %(email)s was withdrawn.", email=invitation.email), "success")
    return redirect(url_for("vendors.staff.members"), 303)


@bp.route("/join/<token>", methods=["GET", "POST"])
def invitation(token: str) -> ResponseReturnValue:
    """The emailed link. Anyone may open it; accepting needs the invited account."""
    try:
        invite = staff.invitation_for_token(token)
    except VendorError as error:
        return render_template("vendors/invitation.html", error=error.message), 410
    form = ActionForm()
    if current_user.is_authenticated and form.validate_on_submit():
        try:
            membership = staff.accept_invitation(token, current_user.id)
        except VendorError as error:
            db.session.rollback()
            return render_template("vendors/invitation.html", invitation=invite,
                                   error=error.message, form=form), error.status
        db.session.commit()
        session[SESSION_VENDOR_KEY] = membership.vendor_id
        flash(_("Welcome to %(shop)s!", shop=invite.vendor.name), "success")
        return redirect(url_for("vendors.dashboard"), 303)
    wrong_account = (current_user.is_authenticated and current_user.email != invite.email)
    return render_template("vendors/invitation.html", invitation=invite, form=form,
                           wrong_account=wrong_account), 403 if wrong_account else 200
